"""``gridmap devices``: the report page's anonymous device tokens (only their SHA-256 is
stored): list them (never a token) and revoke one (audited); a revoked token is refused at
once (401) by every worker, its reports stay."""

from __future__ import annotations

from typing import Annotated
from zoneinfo import ZoneInfo

import typer

from api.cli.common import CliError, actor, err, session_on
from api.cli.keys import _shown
from api.settings import Settings
from data.audit import record
from data.reports import find_device, list_devices, revoke_device

devices_app = typer.Typer(help="Device tokens of the resident report page")

_COLUMNS = ("id", "prefix", "created", "reports", "revoked")


@devices_app.command("list")
def devices_list() -> None:
    """List every device token as a table (never the token itself).

    Tab-separated with a header: id, prefix, created, reports (how many it filed), revoked
    (when, or -)."""
    zone = ZoneInfo(Settings().timezone)
    with session_on() as session:
        devices = list_devices(session=session)
    print(*_COLUMNS, sep="\t")
    for d in devices:
        print(
            d.id,
            d.prefix,
            _shown(d.created_at, zone),
            d.reports,
            _shown(d.revoked_at, zone),
            sep="\t",
        )


@devices_app.command("revoke")
def devices_revoke(
    ref: Annotated[
        str, typer.Argument(help="the token's id, its prefix (gmd_xxxxxxxx) or the token")
    ],
) -> None:
    """Revoke a device token: refused at once on every endpoint, its reports stay."""
    if not ref.strip():
        raise CliError("give the device token's id or prefix (see gridmap devices list)")
    with session_on() as session:
        device = find_device(session=session, ref=ref)
        when = revoke_device(session=session, device_id=device.id)
        if when is not None:
            record(
                session=session,
                actor=actor(),
                action="revoke",
                entity="device token",
                entity_id=str(device.id),
                detail={"prefix": device.prefix, "reports": device.reports},
            )
    if when is None:
        err.print(
            f"device token {device.id} ({device.prefix}) was revoked already", highlight=False
        )
    else:
        err.print(
            f"revoked device token {device.id} ({device.prefix}, {device.reports} reports)",
            highlight=False,
        )
