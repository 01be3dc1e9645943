-- Management P&L per month: revenue by order month, refunds by the month they were paid out,
-- processor fees by the month of the charge.
with revenue as (
    select * from {{ ref('int_revenue_monthly') }}
),

refunds as (
    select * from {{ ref('stg_freshcart__refunds_monthly') }}
),

fees as (
    select date_trunc('month', paid_at)::date as fee_month, sum(processor_fee) as processor_fees
    from {{ ref('int_payments_settled') }}
    group by 1
)

select
    periods.calendar_month,
    periods.fiscal_year,
    periods.fiscal_quarter,
    revenue.orders,
    revenue.gross_revenue,
    coalesce(refunds.refund_amount, 0) as refunds_paid,
    coalesce(fees.processor_fees, 0) as processor_fees,
    revenue.gross_revenue - coalesce(refunds.refund_amount, 0) - coalesce(fees.processor_fees, 0) as contribution
from revenue
inner join {{ ref('dim_fiscal_periods') }} as periods on periods.calendar_month = revenue.revenue_month
left join refunds on refunds.refund_month = revenue.revenue_month
left join fees on fees.fee_month = revenue.revenue_month
