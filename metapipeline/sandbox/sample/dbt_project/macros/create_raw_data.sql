{#-
    FreshCart's raw layer, as the loaders (Fivetran for the shop and payments databases, the
    logistics event stream, the marketing connectors) would land it. There are no CSV files:
    this on-run-start hook builds deterministic synthetic tables with DuckDB SQL, spread over
    the 540 days before var('raw_anchor_date'). It is idempotent (create or replace).
-#}
{% macro create_raw_data() %}
{%- set anchor = "timestamp '" ~ var('raw_anchor_date') ~ " 23:59:59'" -%}
{%- set window_start = "(timestamp '" ~ var('raw_anchor_date') ~ " 00:00:00' - interval 540 day)" -%}

create schema if not exists raw_shop;
create schema if not exists raw_logistics;
create schema if not exists raw_payments;
create schema if not exists raw_marketing;

create or replace table raw_shop.stores as
select *, opened_at as created_at, coalesce(closed_at, opened_at) + interval 1 hour as _loaded_at
from (values
    (1, 'FreshCart Kings Cross', 'London', 'south', 'GB', timestamp '2021-03-01 08:00:00', null::timestamp),
    (2, 'FreshCart Shoreditch', 'London', 'east', 'GB', timestamp '2021-05-17 08:00:00', null),
    (3, 'FreshCart Brixton', 'London', 'south', 'GB', timestamp '2021-09-06 08:00:00', null),
    (4, 'FreshCart Camden', 'London', 'north', 'GB', timestamp '2022-01-10 08:00:00', null),
    (5, 'FreshCart Manchester Northern Quarter', 'Manchester', 'north', 'GB', timestamp '2022-04-04 08:00:00', null),
    (6, 'FreshCart Leeds Central', 'Leeds', 'north', 'GB', timestamp '2022-06-20 08:00:00', null),
    (7, 'FreshCart Bristol Harbourside', 'Bristol', 'west', 'GB', timestamp '2022-09-12 08:00:00', null),
    (8, 'FreshCart Birmingham Digbeth', 'Birmingham', 'west', 'GB', timestamp '2023-02-06 08:00:00', null),
    (9, 'FreshCart Cambridge Mill Road', 'Cambridge', 'east', 'GB', timestamp '2023-05-22 08:00:00', null),
    (10, 'FreshCart Dublin Portobello', 'Dublin', 'west', 'IE', timestamp '2023-09-04 08:00:00', null),
    (11, 'FreshCart Amsterdam De Pijp', 'Amsterdam', 'east', 'NL', timestamp '2024-03-18 08:00:00', null),
    (12, 'FreshCart Croydon', 'London', 'south', 'GB', timestamp '2021-11-01 08:00:00', timestamp '2024-02-29 22:00:00')
) as s(id, name, city, region, country_code, opened_at, closed_at);

create or replace table raw_marketing.campaigns as
with c as (
    select
        k as id,
        ({{ window_start }})::date + (k - 1)::int * 22 as starts_on,
        ['paid_search', 'paid_social', 'email', 'affiliate'][1 + (k - 1) % 4] as channel,
        ['Fresh Start', 'Summer BBQ', 'Back to School', 'Autumn Harvest',
         'Festive Feast', 'New Year Reset', 'Spring Greens', 'Weekend Brunch'][1 + (k - 1) % 8] as theme
    from range(1, 25) as r(k)
)
select
    id,
    theme || ' ' || strftime(starts_on, '%b %Y') as name,
    channel,
    ['acquisition', 'acquisition', 'retention', 'reactivation'][1 + (id * 7) % 4] as objective,
    starts_on,
    starts_on + 43 as ends_on,
    60000 + ((id * 7919) % 10) * 15000 as budget_cents,
    'gbp' as currency,
    starts_on - interval 14 day as created_at,
    starts_on - interval 14 day + interval 2 hour as _loaded_at
from c;

create or replace table raw_shop.customers as
with base as (
    select
        i as id,
        ({{ window_start }}) - interval 360 day
            + to_minutes(((i - 1) * 900 * 1440) // 1500 + (i * 37) % 1440) as created_at
    from range(1, 1501) as r(i)
), channel as (
    select
        *,
        datediff('day', {{ window_start }}, created_at) as window_day,
        case
            when created_at < {{ window_start }} then ['organic', 'referral'][1 + id % 2]
            when id % 3 = 0 then 'organic'
            when id % 3 = 2 then ['referral', 'app_store'][1 + id % 2]
        end as unpaid_channel
    from base
)
select
    ch.id,
    ['Olivia', 'Noah', 'Amelia', 'Oliver', 'Isla', 'George', 'Ava', 'Arthur', 'Mia', 'Leo', 'Grace', 'Oscar',
     'Freya', 'Harry', 'Sofia', 'Jack', 'Aoife', 'Finn', 'Sanne', 'Daan', 'Priya', 'Mohammed', 'Chloe', 'Luca'][1 + (ch.id * 7) % 24] as first_name,
    ['Smith', 'Jones', 'Taylor', 'Brown', 'Williams', 'Wilson', 'Johnson', 'Davies', 'Patel', 'Wright', 'Walsh', 'Murphy',
     'de Vries', 'Jansen', 'Evans', 'Thomas', 'Roberts', 'Khan', 'Green', 'Hughes', 'Clarke', 'Kelly', 'Bakker', 'Hall'][1 + (ch.id * 11) % 24] as last_name,
    'customer' || ch.id || '@mail.example' as email,
    st.city,
    1 + (ch.id * 5) % 11 as home_store_id,
    coalesce(ch.unpaid_channel, cp.channel) as signup_channel,
    case when ch.unpaid_channel is null then cp.id end as utm_campaign_id,
    ch.id % 4 <> 0 as marketing_opt_in,
    ch.created_at,
    ch.created_at + to_days((ch.id * 13) % 200) as updated_at,
    ch.created_at + to_days((ch.id * 13) % 200) + interval 1 hour as _loaded_at
from channel as ch
left join raw_shop.stores as st on st.id = 1 + (ch.id * 5) % 11
left join raw_marketing.campaigns as cp on cp.id = least(24, 1 + greatest(ch.window_day, 0) // 22);

create or replace table raw_shop.products as
with p as (
    select
        i as id,
        1 + (i - 1) % 12 as category_id,
        1 + ((i - 1) // 12) % 5 as base_index,
        (i - 1) // 60 as variant
    from range(1, 201) as r(i)
), named as (
    select
        *,
        [['Bananas', 'Braeburn Apples', 'Baby Spinach', 'Vine Tomatoes', 'Avocados'],
         ['Whole Milk', 'Free Range Eggs', 'Greek Yoghurt', 'Mature Cheddar', 'Salted Butter'],
         ['Sourdough Loaf', 'Croissants', 'Seeded Bagels', 'Wholemeal Bread', 'Cinnamon Buns'],
         ['Chicken Breast', 'Beef Mince', 'Salmon Fillets', 'Pork Sausages', 'Smoked Bacon'],
         ['Basmati Rice', 'Penne Pasta', 'Chopped Tomatoes', 'Olive Oil', 'Peanut Butter'],
         ['Garden Peas', 'Margherita Pizza', 'Vanilla Ice Cream', 'Fish Fingers', 'Mixed Berries'],
         ['Orange Juice', 'Sparkling Water', 'Cold Brew Coffee', 'Oat Milk', 'Green Tea'],
         ['Sea Salt Crisps', 'Dark Chocolate', 'Salted Popcorn', 'Granola Bars', 'Mixed Nuts'],
         ['Washing Up Liquid', 'Kitchen Roll', 'Bin Bags', 'Laundry Capsules', 'Toilet Tissue'],
         ['Nappies Size 4', 'Baby Wipes', 'Fruit Puree Pouches', 'Baby Porridge', 'Nappy Cream'],
         ['Toothpaste', 'Shampoo', 'Hand Soap', 'Vitamin D Tablets', 'Paracetamol'],
         ['Pale Ale', 'Prosecco', 'Red Wine', 'Cider', 'London Dry Gin']][category_id][base_index] as base_name,
        [150, 180, 220, 450, 200, 300, 190, 160, 280, 650, 320, 900][category_id] as base_price_cents
    from p
)
select
    id,
    'FC-' || lpad(id::varchar, 5, '0') as sku,
    case variant
        when 0 then base_name
        when 1 then 'Organic ' || base_name
        when 2 then base_name || ' Family Pack'
        else 'FreshCart Essentials ' || base_name
    end as name,
    category_id,
    (base_price_cents * [1.0, 1.35, 1.8, 0.75][variant + 1])::bigint + (id * 37) % 50 as price_cents,
    'gbp' as currency,
    id % 23 <> 0 as is_active,
    {{ window_start }} - to_days(200 - id) as created_at,
    case when id % 9 = 0 then {{ anchor }} - to_days(id % 60) else {{ window_start }} - to_days(200 - id) end as updated_at,
    case when id % 9 = 0 then {{ anchor }} - to_days(id % 60) else {{ window_start }} - to_days(200 - id) end
        + interval 1 hour as _loaded_at
from named;

create or replace table raw_shop.orders as
with o as (
    select
        i as id,
        floor(540 * sqrt((i - 0.5) / 6000.0))::bigint as window_day
    from range(1, 6001) as r(i)
), placed as (
    select
        id,
        window_day,
        {{ window_start }} + to_days(window_day)
            + to_seconds((7 + (id * 7) % 15) * 3600 + ((id * 13) % 60) * 60 + (id * 29) % 60) as ordered_at,
        1 + (id * 7919) % least(1500, ((window_day + 360) * 1500) // 900) as customer_id
    from o
)
select
    id,
    customer_id,
    1 + (customer_id * 5) % 11 as store_id,
    case when id % 19 = 0 then 'cancelled' when id % 29 = 0 then 'refunded' else 'completed' end as status,
    case when id % 5 = 0 then 0 else 299 end as delivery_fee_cents,
    'gbp' as currency,
    case when id % 11 = 0 then 'FRESH10' when id % 17 = 0 then 'FREEDEL' end as promo_code,
    case when id % 4 = 0 then least(24, 1 + window_day // 22) end as utm_campaign_id,
    ['ios', 'android', 'web'][1 + (id * 3) % 5 % 3] as channel,
    ordered_at as created_at,
    ordered_at + case when id % 19 = 0 then interval 10 minute else interval 90 minute end as updated_at,
    ordered_at + interval 3 hour as _loaded_at
from placed;

create or replace table raw_shop.order_items as
select
    o.id * 10 + l.line as id,
    o.id as order_id,
    l.line as line_number,
    p.id as product_id,
    1 + (o.id + l.line) % 3 as quantity,
    p.price_cents as unit_price_cents,
    o.created_at,
    o._loaded_at
from raw_shop.orders as o
cross join range(1, 6) as l(line)
join raw_shop.products as p
    on p.id = 1 + (o.id * 31 + l.line * [17, 23, 41, 57, 63, 79, 97, 103][1 + o.id % 8]) % 200
where l.line <= 1 + (o.id * 7) % 5;

create or replace table raw_logistics.couriers as
select
    c as id,
    ['Kofi', 'Ana', 'Tomasz', 'Lucy', 'Ravi', 'Niamh', 'Mateo', 'Zara', 'Ben', 'Ines',
     'Jakub', 'Maya', 'Sean', 'Layla', 'Pieter', 'Elif'][1 + (c * 5) % 16] as first_name,
    ['Mensah', 'Silva', 'Nowak', 'Cole', 'Sharma', 'O''Brien', 'Garcia', 'Ahmed', 'Turner', 'Costa',
     'Kowalski', 'Ross', 'Byrne', 'Hassan', 'Visser', 'Yilmaz'][1 + (c * 3) % 16] as last_name,
    ['bike', 'e-bike', 'e-bike', 'scooter', 'car'][1 + (c * 7) % 5] as vehicle_type,
    1 + (c - 1) % 12 as home_store_id,
    {{ window_start }} - to_days(30 + (c * 17) % 400) as hired_at,
    case when 1 + (c - 1) % 12 = 12 then timestamp '2024-02-29 22:00:00' end as offboarded_at,
    {{ window_start }} - to_days(30 + (c * 17) % 400) as created_at,
    {{ window_start }} - to_days(30 + (c * 17) % 400) + interval 1 hour as _loaded_at
from range(1, 61) as r(c);

create or replace table raw_logistics.deliveries as
select
    row_number() over (order by o.id) + 400000 as id,
    o.id as order_id,
    o.store_id + 12 * (o.id % 5) as courier_id,
    o.store_id,
    'delivered' as status,
    o.created_at + interval 45 minute as promised_at,
    o.created_at + to_minutes(4 + (o.id * 3) % 10) as dispatched_at,
    o.created_at + to_minutes(4 + (o.id * 3) % 10 + 3 + (o.id * 7) % 7) as picked_up_at,
    o.created_at + to_minutes(4 + (o.id * 3) % 10 + 3 + (o.id * 7) % 7 + 8 + (o.id * 11) % 30) as delivered_at,
    o.created_at + interval 2 hour as _loaded_at
from raw_shop.orders as o
where o.status <> 'cancelled';

create or replace table raw_logistics.courier_shifts as
with days as (
    select ({{ anchor }})::date - d::int as shift_date, d
    from range(0, 120) as r(d)
), shifts as (
    select
        c.id as courier_id,
        c.home_store_id as store_id,
        days.shift_date,
        days.shift_date + to_hours(case when (c.id + days.d) % 2 = 0 then 8 else 14 end) as scheduled_start,
        case when c.id % 3 = 0 then 6 else 8 end as planned_hours,
        (c.id * days.d) % 10 as late_minutes,
        (c.id + days.d * 7) % 45 as early_leave_minutes
    from raw_logistics.couriers as c
    cross join days
    where c.offboarded_at is null and (c.id + days.d) % 7 < 5
)
select
    row_number() over (order by shift_date, courier_id) as id,
    courier_id,
    store_id,
    shift_date,
    scheduled_start,
    scheduled_start + to_hours(planned_hours) as scheduled_end,
    scheduled_start + to_minutes(late_minutes) as clocked_in_at,
    scheduled_start + to_minutes(planned_hours * 60 - early_leave_minutes) as clocked_out_at,
    scheduled_start + to_hours(planned_hours) + interval 1 hour as _loaded_at
from shifts;

create or replace table raw_payments.charges as
with totals as (
    select o.id as order_id, o.customer_id, o.status, o.created_at,
           (sum(oi.quantity * oi.unit_price_cents) + o.delivery_fee_cents)::bigint as amount
    from raw_shop.orders as o
    join raw_shop.order_items as oi on oi.order_id = o.id
    group by o.id, o.customer_id, o.status, o.created_at, o.delivery_fee_cents
), attempts as (
    select *, 'succeeded' as charge_status from totals where status <> 'cancelled'
    union all
    select *, 'failed' as charge_status from totals where order_id % 23 = 0
)
select
    'ch_' || substr(md5('charge-' || charge_status || '-' || order_id), 1, 24) as id,
    order_id,
    customer_id,
    amount,
    'gbp' as currency,
    charge_status as status,
    charge_status = 'succeeded' as captured,
    ['card', 'card', 'apple_pay', 'google_pay', 'paypal'][1 + order_id % 5] as payment_method_type,
    case when charge_status = 'failed' then ['card_declined', 'insufficient_funds', 'expired_card'][1 + order_id % 3] end as failure_code,
    created_at + case when charge_status = 'failed' then interval 20 second else interval 75 second end as created,
    created_at + interval 2 hour as _loaded_at
from attempts;

create or replace table raw_payments.refunds as
with refundable as (
    select c.id as charge_id, c.order_id, c.amount, c.created, o.status
    from raw_payments.charges as c
    join raw_shop.orders as o on o.id = c.order_id
    where c.status = 'succeeded' and (o.status = 'refunded' or (o.status = 'completed' and o.id % 41 = 0))
)
select
    're_' || substr(md5('refund-' || charge_id), 1, 24) as id,
    charge_id,
    case when status = 'refunded' then amount else amount // 5 end as amount,
    'gbp' as currency,
    case when status = 'refunded' then 'requested_by_customer' else 'damaged_item' end as reason,
    'succeeded' as status,
    least(created + to_hours(20 + order_id % 50), {{ anchor }}) as created,
    least(created + to_hours(21 + order_id % 50), {{ anchor }}) as _loaded_at
from refundable;

create or replace table raw_marketing.ad_spend as
select
    row_number() over (order by c.id, d.d) as id,
    c.id as campaign_id,
    c.starts_on + d.d::int as spend_date,
    (c.budget_cents / 44.0 * (0.6 + ((c.id * 13 + d.d * 7) % 9) / 10.0))::bigint as spend_cents,
    'gbp' as currency,
    (c.budget_cents / 44.0 * (0.6 + ((c.id * 13 + d.d * 7) % 9) / 10.0))::bigint * (3 + d.d % 4) as impressions,
    ((c.budget_cents / 44.0 * (0.6 + ((c.id * 13 + d.d * 7) % 9) / 10.0))::bigint * (3 + d.d % 4))
        // (80 + (c.id * d.d) % 40) as clicks,
    (c.starts_on + d.d::int + 1) + interval 6 hour as _loaded_at
from raw_marketing.campaigns as c
cross join range(0, 44) as d(d)
where c.starts_on + d.d::int <= ({{ anchor }})::date;

create or replace table raw_marketing.app_events as
with sessions as (
    select
        s,
        {{ anchor }} - to_minutes(((1200 - s) * 120 * 1440) // 1200 + (s * 53) % 600) as started_at,
        1 + (s * 7) % 5 as depth
    from range(1, 1201) as r(s)
)
select
    'evt_' || substr(md5('event-' || s || '-' || step), 1, 20) as id,
    'ses_' || substr(md5('session-' || s), 1, 16) as session_id,
    'anon_' || substr(md5('anon-' || s), 1, 16) as anonymous_id,
    case when s % 3 = 0 then null else 1 + (s * 131) % 1500 end as customer_id,
    ['app_open', 'view_product', 'add_to_cart', 'checkout_started', 'order_placed'][step] as event_name,
    ['ios', 'android', 'web'][1 + s % 3] as platform,
    ['5.14.0', '5.15.2', '5.16.0'][1 + s // 400] as app_version,
    started_at + to_seconds((step - 1) * (30 + s % 90)) as occurred_at,
    started_at + to_seconds((step - 1) * (30 + s % 90)) + interval 15 minute as _loaded_at
from sessions
cross join range(1, 6) as t(step)
where step <= depth;
{% endmacro %}
