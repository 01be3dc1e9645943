-- Flat budget rates against sterling until treasury's feed lands; every FreshCart entity bills in GBP today.
with days as (
    select cast(range as date) as rate_date
    from range(timestamp '2024-01-01', timestamp '2027-01-01', interval 1 day)
)

select days.rate_date, rates.currency, rates.gbp_per_unit
from days
cross join (values ('EUR', 0.8500), ('USD', 0.7900)) as rates(currency, gbp_per_unit)
