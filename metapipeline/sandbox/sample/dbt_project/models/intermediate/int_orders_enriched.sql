with items as (
    select
        order_id,
        count(*) as item_count,
        sum(quantity) as units,
        sum(line_total) as items_subtotal,
        list(sku order by line_number) as item_skus
    from {{ ref('int_order_items_enriched') }}
    group by order_id
),

payments as (
    select
        order_id,
        sum(amount) as amount_captured,
        min(charged_at) as paid_at,
        min(payment_method) as payment_method,
        count(*) as succeeded_charges
    from {{ ref('stg_payments__charges') }}
    where charge_status = 'succeeded'
    group by order_id
)

select
    o.order_id,
    o.customer_id,
    o.store_id,
    o.order_status,
    o.order_channel,
    o.campaign_id,
    o.promo_code,
    o.ordered_at,
    items.item_count,
    items.units,
    items.item_skus,
    items.items_subtotal,
    o.delivery_fee,
    items.items_subtotal + o.delivery_fee as order_total,
    coalesce(payments.amount_captured, 0) as amount_captured,
    payments.payment_method,
    payments.paid_at
from {{ ref('stg_shop__orders') }} as o
left join items on items.order_id = o.order_id
left join payments on payments.order_id = o.order_id
