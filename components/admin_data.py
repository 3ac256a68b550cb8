"""Reads of the Admin page: users and the audit log. Not cached: user changes do not bump
the data version, and these tables are small."""
from __future__ import annotations

from engine.warehouse.audit import read_audit_log
from engine.warehouse.users import list_users

__all__ = ["list_users", "read_audit_log"]
