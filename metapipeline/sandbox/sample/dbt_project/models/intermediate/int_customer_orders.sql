with orders as (
    select
        customer_id,
        min(ordered_at) as first_order_at,
        max(ordered_at) as last_order_at,
        count(*) as order_count,
        count(*) filter (where order_status = 'completed') as completed_orders,
        sum(order_total) filter (where order_status <> 'cancelled') as lifetime_gmv
    from {{ ref('int_orders_enriched') }}
    group by customer_id
)

select
    c.customer_id,
    c.customer_name,
    c.email,
    c.city,
    c.home_store_id,
    c.signup_channel,
    c.acquisition_campaign_id,
    c.marketing_opt_in,
    c.signed_up_at,
    orders.first_order_at,
    orders.last_order_at,
    coalesce(orders.order_count, 0) as order_count,
    coalesce(orders.completed_orders, 0) as completed_orders,
    coalesce(orders.lifetime_gmv, 0) as lifetime_gmv
from {{ ref('stg_shop__customers') }} as c
left join orders on orders.customer_id = c.customer_id
