"""Handlers of the read-only recruiting tools (risk class ``read``)."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa

from tailguard.errors import InvalidInputError
from tailguard.roles.recruiting import crossrole
from tailguard.roles.recruiting import schema as t
from tailguard.roles.recruiting.env import CallEnv
from tailguard.roles.recruiting.geo import ZIPS, miles_between, zip_point

# National out-of-service averages shown on FMCSA SAFER company snapshots (see docs).
NATIONAL_OOS = {"driver": 6.67, "vehicle": 22.26}


def _carrier(env: CallEnv, args: Mapping[str, Any]) -> dict[str, Any]:
    c = t.carriers
    if args.get("carrierId"):
        return env.store.row(
            sa.select(c).where(c.c.carrier_id == args["carrierId"]),
            what=f"carrier {args['carrierId']}",
        )
    if args.get("dotNumber"):
        return env.store.row(
            sa.select(c).where(c.c.dot_number == int(args["dotNumber"])),
            what=f"DOT {args['dotNumber']}",
        )
    raise InvalidInputError("give carrierId or dotNumber")


def get_carrier_details(env: CallEnv, args: Mapping[str, Any]) -> dict[str, Any]:
    """A carrier's profile and its open postings."""
    carrier = _carrier(env, args)
    postings = env.store.rows(
        sa.select(
            t.postings.c.posting_id,
            t.postings.c.title,
            t.postings.c.cpm_loaded,
            t.postings.c.lane,
            t.postings.c.openings,
        )
        .where(t.postings.c.carrier_id == carrier["carrier_id"], t.postings.c.status == "open")
        .order_by(t.postings.c.posting_id)
    )
    return {
        "summary": f"{carrier['name']}: {len(postings)} open postings, {carrier['power_units']} power units",
        "carrier": carrier,
        "open_postings": postings,
    }


def get_fmcsa_data(env: CallEnv, args: Mapping[str, Any]) -> dict[str, Any]:
    """Safety rating and out-of-service rates against the national averages."""
    carrier = _carrier(env, args)
    flags = []
    if carrier["driver_oos_rate"] > NATIONAL_OOS["driver"]:
        flags.append("driver OOS rate above national average")
    if carrier["vehicle_oos_rate"] > NATIONAL_OOS["vehicle"]:
        flags.append("vehicle OOS rate above national average")
    if carrier["safety_rating"] == "Conditional":
        flags.append("conditional safety rating")
    return {
        "summary": f"DOT {carrier['dot_number']}: {carrier['safety_rating']}, {len(flags)} flags",
        "dot_number": carrier["dot_number"],
        "mc_number": carrier["mc_number"],
        "legal_name": carrier["name"],
        "safety_rating": carrier["safety_rating"],
        "driver_oos_rate": carrier["driver_oos_rate"],
        "vehicle_oos_rate": carrier["vehicle_oos_rate"],
        "national_average_oos": NATIONAL_OOS,
        "power_units": carrier["power_units"],
        "drivers": carrier["drivers_count"],
        "crashes_24mo": carrier["crashes_24mo"],
        "flags": flags,
        "source": "reference dataset (FMCSA-shaped)",
    }


def road_conditions(env: CallEnv, args: Mapping[str, Any]) -> dict[str, Any]:
    """Road conditions near a ZIP and/or on an interstate."""
    if not args.get("zip") and not args.get("route"):
        raise InvalidInputError("give a zip or a route")
    if args.get("zip"):
        zip_point(args["zip"])
    rows = env.roads.conditions(
        zip_code=args.get("zip"),
        route=args.get("route"),
        radius_miles=float(args.get("radiusMiles", 100)),
    )
    delays = [r for r in rows if r["delay_min"] > 0]
    return {"summary": f"{len(rows)} reports, {len(delays)} with delays", "conditions": rows[:20]}


def find_parking(env: CallEnv, args: Mapping[str, Any]) -> dict[str, Any]:
    """Truck parking with free spaces near a ZIP."""
    rows = env.parking.near(
        zip_code=args["zip"],
        radius_miles=float(args.get("radiusMiles", 50)),
        min_spaces=int(args.get("minSpaces", 1)),
    )
    return {
        "summary": f"{len(rows)} locations with space near {args['zip']}",
        "locations": rows[:10],
    }


def search_drivers(env: CallEnv, args: Mapping[str, Any]) -> dict[str, Any]:
    """Drivers by place, CDL class, endorsements, experience and equipment."""
    d = t.drivers
    query = sa.select(d)
    if args.get("cdlClass"):
        query = query.where(d.c.cdl_class == args["cdlClass"])
    if args.get("equipment"):
        query = query.where(d.c.equipment == args["equipment"])
    if args.get("minExperience") is not None:
        query = query.where(d.c.experience_years >= float(args["minExperience"]))
    if args.get("maxDesiredCpm") is not None:
        query = query.where(d.c.desired_cpm <= float(args["maxDesiredCpm"]))
    rows = env.store.rows(query.order_by(d.c.driver_id))
    needed = set(args.get("endorsements") or ())
    rows = [r for r in rows if needed <= set(r["endorsements"])]
    if args.get("zip"):
        here = zip_point(args["zip"])
        radius = float(args.get("radiusMiles", 100))
        for r in rows:
            r["distance_miles"] = round(miles_between(here, ZIPS[r["home_zip"]]), 1)
        rows = sorted(
            (r for r in rows if r["distance_miles"] <= radius), key=lambda r: r["distance_miles"]
        )
    keep = (
        "driver_id",
        "first_name",
        "last_name",
        "home_zip",
        "cdl_class",
        "endorsements",
        "experience_years",
        "desired_cpm",
        "equipment",
        "distance_miles",
    )
    found = [{k: r[k] for k in keep if k in r} for r in rows]
    return {
        "summary": f"{len(found)} drivers match",
        "drivers": found[: int(args.get("limit", 20))],
    }


def get_pipeline(env: CallEnv, args: Mapping[str, Any]) -> dict[str, Any]:
    """The recruiter's candidates by stage."""
    recruiter = env.scoped("recruiter", args.get("recruiterId"), "pipeline")
    p, d, j = t.pipeline, t.drivers, t.postings
    query = (
        sa.select(
            p.c.interest_id,
            p.c.status,
            p.c.updated_at,
            p.c.posting_id,
            d.c.driver_id,
            (d.c.first_name + " " + d.c.last_name).label("driver_name"),
            j.c.title,
        )
        .join(d, d.c.driver_id == p.c.driver_id)
        .join(j, j.c.posting_id == p.c.posting_id)
        .where(p.c.recruiter_id == recruiter)
        .order_by(p.c.updated_at.desc(), p.c.interest_id)
    )
    if args.get("stage"):
        query = query.where(p.c.status == args["stage"])
    rows = env.store.rows(query)
    by_stage = Counter(r["status"] for r in rows)
    active = [r for r in rows if r["status"] not in t.TERMINAL and r["status"] != "hired"]
    return {
        "summary": f"{len(rows)} candidates, {len(active)} active ("
        + ", ".join(f"{s} {by_stage[s]}" for s in t.STATUSES if by_stage[s])
        + ")",
        "recruiter_id": recruiter,
        "by_stage": {s: by_stage[s] for s in t.STATUSES},
        "candidates": active[: int(args.get("limit", 50))],
    }


def get_recruiter_analytics(env: CallEnv, args: Mapping[str, Any]) -> dict[str, Any]:
    """A recruiter's funnel, time to hire and drop-off reasons."""
    recruiter = env.scoped("recruiter", args.get("recruiterId"), "analytics")
    rows = [
        r
        for r in crossrole.pipeline_outcomes(env.store)
        if r["interest_id"]
        in {
            x["interest_id"]
            for x in env.store.rows(
                sa.select(t.pipeline.c.interest_id).where(t.pipeline.c.recruiter_id == recruiter)
            )
        }
    ]
    stats = crossrole.funnel(rows)
    calls = env.store.rows(
        sa.select(sa.func.count()).select_from(t.calls).where(t.calls.c.recruiter_id == recruiter)
    )
    return {
        "summary": f"{stats['candidates']} candidates, conversion {stats['conversion_rate']}",
        "recruiter_id": recruiter,
        **stats,
        "calls_logged": next(iter(calls[0].values())),
    }


def get_system_health(env: CallEnv, args: Mapping[str, Any]) -> dict[str, Any]:
    """Whether the stores answer, how fast, and how much data they hold."""
    components: list[dict[str, Any]] = []
    started = time.perf_counter()
    try:
        counts = env.store.counts()
        components.append(
            {
                "name": "recruiting_store",
                "status": "ok",
                "latency_ms": round((time.perf_counter() - started) * 1000, 2),
                "rows": sum(counts.values()),
            }
        )
    except sa.exc.SQLAlchemyError as exc:
        components.append(
            {
                "name": "recruiting_store",
                "status": "down",
                "error": str(exc.orig if hasattr(exc, "orig") else exc),
            }
        )
    for name, probe in sorted(env.health.items()):
        started = time.perf_counter()
        try:
            detail = dict(probe())
            components.append(
                {
                    "name": name,
                    "status": "ok",
                    "latency_ms": round((time.perf_counter() - started) * 1000, 2),
                    **detail,
                }
            )
        except Exception as exc:  # a failing probe is the news, not a crash
            components.append({"name": name, "status": "down", "error": str(exc)})
    down = [c["name"] for c in components if c["status"] != "ok"]
    return {
        "summary": "all components healthy" if not down else f"down: {', '.join(down)}",
        "status": "ok" if not down else "degraded",
        "components": components,
    }


def get_driver_stats(env: CallEnv, args: Mapping[str, Any]) -> dict[str, Any]:
    """A driver's profile and applications (drivers: their own; admins: any, or totals)."""
    if env.user.role == "admin" and not args.get("driverId"):
        rows = env.store.rows(
            sa.select(t.drivers.c.cdl_class, t.drivers.c.equipment, t.drivers.c.experience_years)
        )
        return {
            "summary": f"{len(rows)} drivers",
            "drivers": len(rows),
            "by_equipment": dict(Counter(r["equipment"] for r in rows)),
            "by_cdl_class": dict(Counter(r["cdl_class"] for r in rows)),
        }
    driver_id = env.scoped("driver", args.get("driverId"), "stats")
    driver = env.store.row(
        sa.select(t.drivers).where(t.drivers.c.driver_id == driver_id), what=f"driver {driver_id}"
    )
    stages = env.store.rows(
        sa.select(t.pipeline.c.status).where(t.pipeline.c.driver_id == driver_id)
    )
    apps = env.store.rows(sa.select(t.applications).where(t.applications.c.driver_id == driver_id))
    return {
        "summary": f"{len(stages)} candidacies, {len(apps)} applications",
        "driver": driver,
        "candidacies": dict(Counter(s["status"] for s in stages)),
        "applications": apps,
    }


def get_account(env: CallEnv, args: Mapping[str, Any]) -> dict[str, Any]:
    """A B2B account and its carrier."""
    account_id = env.scoped("carrier", args.get("accountId"), "account")
    account = env.store.row(
        sa.select(t.accounts).where(t.accounts.c.account_id == account_id),
        what=f"account {account_id}",
    )
    return {
        "summary": f"{account['name']} ({account['tier']}), health {account['health_score']}",
        "account": account,
    }


def get_signals(env: CallEnv, args: Mapping[str, Any]) -> dict[str, Any]:
    """An account's market signals, newest first."""
    account_id = env.scoped("carrier", args.get("accountId"), "account")
    env.store.row(
        sa.select(t.accounts.c.account_id).where(t.accounts.c.account_id == account_id),
        what=f"account {account_id}",
    )
    query = sa.select(t.signals).where(t.signals.c.account_id == account_id)
    if args.get("kind"):
        query = query.where(t.signals.c.kind == args["kind"])
    rows = env.store.rows(query.order_by(t.signals.c.observed_at.desc()))
    kinds = Counter(r["kind"] for r in rows)
    return {
        "summary": f"{len(rows)} signals for {account_id} ("
        + ", ".join(f"{k} {v}" for k, v in sorted(kinds.items()))
        + ")",
        "account_id": account_id,
        "signals": rows,
    }


def get_opportunities(env: CallEnv, args: Mapping[str, Any]) -> dict[str, Any]:
    """An account's open and closed opportunities."""
    account_id = env.scoped("carrier", args.get("accountId"), "account")
    rows = env.store.rows(
        sa.select(t.opportunities)
        .where(t.opportunities.c.account_id == account_id)
        .order_by(t.opportunities.c.close_date)
    )
    open_rows = [r for r in rows if r["stage"] not in ("won", "lost")]
    return {
        "summary": f"{len(open_rows)} open opportunities worth ${sum(r['value_usd'] for r in open_rows):,}",
        "account_id": account_id,
        "opportunities": rows,
    }


def get_agent_kpis(env: CallEnv, args: Mapping[str, Any]) -> dict[str, Any]:
    """The control plane's agent KPIs (success rate, quality, cost per run, approvals)."""
    if env.kpis is None:
        return {"summary": "no KPI source configured", "kpis": {}}
    kpis = dict(env.kpis())
    return {"summary": f"{len(kpis)} KPIs", "kpis": kpis}


def get_market_intel(env: CallEnv, args: Mapping[str, Any]) -> dict[str, Any]:
    """Carrier-side demand, pay and capacity by region (cross-role: carrier -> recruiter)."""
    rows = crossrole.market_intel(env.store, region=args.get("region"))
    return {
        "summary": f"{len(rows)} regions; top demand {rows[0]['region'] if rows else 'n/a'}",
        "regions": rows,
    }


def get_lane_demand(env: CallEnv, args: Mapping[str, Any]) -> dict[str, Any]:
    """Lanes ranked by open seats and tendered loads (cross-role: carrier -> recruiter)."""
    rows = crossrole.lane_demand(
        env.store, equipment=args.get("equipment"), limit=int(args.get("limit", 10))
    )
    return {"summary": f"top lane {rows[0]['lane'] if rows else 'n/a'}", "lanes": rows}


def get_compensation_benchmarks(env: CallEnv, args: Mapping[str, Any]) -> dict[str, Any]:
    """Pay percentiles of open postings (cross-role: carrier -> recruiter)."""
    bench = crossrole.compensation_benchmarks(
        env.store,
        equipment=args.get("equipment"),
        route_type=args.get("routeType"),
        region=args.get("region"),
    )
    p50 = bench["cpm_loaded"]["p50"]
    return {
        "summary": f"{bench['postings']} postings, P50 ${p50}/mile"
        if p50 is not None
        else "no postings match",
        **bench,
    }


def get_hiring_benchmarks(env: CallEnv, args: Mapping[str, Any]) -> dict[str, Any]:
    """Network-wide recruiter outcomes by lane, region or equipment (recruiter -> carrier)."""
    by = args.get("by", "equipment")
    rows = crossrole.hiring_benchmarks(env.store, by=by)
    return {
        "summary": f"hiring benchmarks for {len(rows)} {by} groups",
        "by": by,
        "groups": rows[: int(args.get("limit", 15))],
    }


def get_conversion_insights(env: CallEnv, args: Mapping[str, Any]) -> dict[str, Any]:
    """The carrier's own funnel against the network's (recruiter -> carrier)."""
    account_id = env.scoped("carrier", args.get("accountId"), "account")
    account = env.store.row(
        sa.select(t.accounts).where(t.accounts.c.account_id == account_id),
        what=f"account {account_id}",
    )
    own = crossrole.funnel(crossrole.pipeline_outcomes(env.store, carrier_id=account["carrier_id"]))
    network = crossrole.funnel(crossrole.pipeline_outcomes(env.store))
    return {
        "summary": f"conversion {own['conversion_rate']} vs network {network['conversion_rate']}",
        "account_id": account_id,
        "own": own,
        "network": network,
        "by_lane": crossrole.hiring_benchmarks(
            env.store, by="lane", carrier_id=account["carrier_id"]
        ),
    }
