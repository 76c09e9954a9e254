"""Who can reach this server: refuse to serve customer files to a network without sign-in.

`.streamlit/config.toml` binds the server to 127.0.0.1, so on a laptop only its owner reaches
it (Streamlit's default, an empty ``server.address``, listens on every interface: on shared
Wi-Fi anyone could open the app and its customer files). Whoever starts it with
``--server.address 0.0.0.0`` (or any non-loopback address) must either configure sign-in (an
``[auth]`` section in `.streamlit/secrets.toml`, read by ``st.login``) or say explicitly that an
open server is intended, with ``MARKETUNE_ALLOW_OPEN_NETWORK=1``; the pages then show a warning.
"""

from __future__ import annotations

import ipaddress
import os

import streamlit as st

ALLOW_ENV = "MARKETUNE_ALLOW_OPEN_NETWORK"
LOOPBACK_NAMES = {"localhost"}


def is_loopback(address: str) -> bool:
    """True when ``address`` (``server.address``: an IP, a host name or "") reaches only this machine.

    An empty address means every interface (Streamlit's default), so it is not loopback.
    """
    address = (address or "").strip().strip("[]")
    if address.lower() in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:  # "" or a host name other than localhost: reachable from the network
        return False


def exposure(address: str, sign_in: bool, allow_open: bool) -> str:
    """Classify the server: ``"local"``, ``"signed_in"``, ``"open_allowed"`` or ``"refused"``."""
    if is_loopback(address):
        return "local"
    if sign_in:
        return "signed_in"
    return "open_allowed" if allow_open else "refused"


def server_address() -> str:
    """``server.address`` as the running server resolved it ("" = every interface)."""
    return str(st.get_option("server.address") or "")


def sign_in_configured() -> bool:
    """True when `.streamlit/secrets.toml` has an ``[auth]`` section (what ``st.login`` reads)."""
    try:
        return "auth" in st.secrets
    except Exception:  # no secrets file at all (Streamlit raises a FileNotFoundError subclass)
        return False


def guard_network_exposure() -> None:
    """Stop the page with an explanation when the server is open to a network without sign-in.

    Called by app.py before any page runs. With ``MARKETUNE_ALLOW_OPEN_NETWORK=1`` the page
    runs under a warning instead.
    """
    address = server_address()
    state = exposure(address, sign_in_configured(), os.environ.get(ALLOW_ENV) == "1")
    where = f"`{address}`" if address else "every network interface"
    if state == "refused":
        st.error(
            f"This server listens on {where}, so anyone on the same network could open it, and "
            "sign-in is not configured. Marketune refuses to show customer files and models this "
            "way. Either start it on this machine only (`make run`, which listens on 127.0.0.1), "
            "configure sign-in (an `[auth]` section in `.streamlit/secrets.toml`; see "
            f"docs/team-server.md), or set `{ALLOW_ENV}=1` if an open server is really intended."
        )
        st.stop()
    if state == "open_allowed":
        st.warning(
            f"Open server: it listens on {where} without sign-in ({ALLOW_ENV}=1), so anyone who "
            "can reach it sees every model and file here."
        )
