-- One row per session of the vault: its latest state (the newest
-- vault.sat_session row), how many events it had and of how many types,
-- its visitors, and its first and last event. A starting point for your own
-- models: everything comes from the vault, so it can be rebuilt from raw.
with latest as (
    select distinct on (hk_session)
        hk_session, status, kind, started_at, ended_at, duration_ms, end_reason
    from {{ source('vault', 'sat_session') }}
    order by hk_session, load_date desc
),

events as (
    select
        hk_session,
        count(*) as events,
        count(distinct type) as event_types,
        min(occurred_at) as first_event_at,
        max(occurred_at) as last_event_at
    from {{ source('vault', 'link_event') }}
    where hk_session is not null
    group by hk_session
),

visitors as (
    select hk_session, count(*) as visitors
    from {{ source('vault', 'link_session_visitor') }}
    group by hk_session
)

select
    h.hk_session,
    h.tenant_id,
    h.session_id,
    l.status,
    l.kind,
    l.started_at,
    l.ended_at,
    l.duration_ms,
    l.end_reason,
    coalesce(e.events, 0) as events,
    coalesce(e.event_types, 0) as event_types,
    e.first_event_at,
    e.last_event_at,
    coalesce(v.visitors, 0) as visitors
from {{ source('vault', 'hub_session') }} h
left join latest l on l.hk_session = h.hk_session
left join events e on e.hk_session = h.hk_session
left join visitors v on v.hk_session = h.hk_session
