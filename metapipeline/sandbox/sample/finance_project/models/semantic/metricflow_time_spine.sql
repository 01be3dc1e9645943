-- MetricFlow's day grain; _semantic.yml declares it as the time spine. No model reads it.
select cast(range as date) as date_day
from range(timestamp '2022-01-01', timestamp '2031-01-01', interval 1 day)
