"""Admin: users (create, disable, role and PIN codes, password reset, sign out
everywhere), who is signed in now, and the audit log.

Recipe: gate (admins only) -> users table -> add / change forms -> engine call (each
change and its audit row in one transaction) -> audit log with filters. Reads are not
cached: user changes do not bump the data version, and these tables are small.
"""
from __future__ import annotations

import streamlit as st

from components import admin_views as adv
from components.admin_data import list_users, read_audit_log
from components.auth import current_user, sessions_frame
from components.errors import attempt, show_error
from components.session import get_warehouse
from engine import auth
from engine import auth_sessions as sessions

st.set_page_config(page_title="MicroPulse · Admin", page_icon=":material/admin_panel_settings:",
                   layout="wide")
wh = get_warehouse()
me = current_user()
st.title("Admin")
if not auth.auth_enabled():
    st.info("Sign-in is off (MICROPULSE_AUTH=off), so everyone acts as the admin 'demo'. "
            "Users added here can sign in once sign-in is on.", icon=":material/info:")


def _run(fn, *args) -> bool:
    """Engine call; True, or False after showing a sentence (with the error's evidence)."""
    _, err = attempt(fn, wh, me, *args)
    if err:
        show_error(err)
    return not err


def _done(message: str) -> None:
    st.session_state["adm_flash"] = message
    st.rerun()


flash = st.session_state.pop("adm_flash", None)
if flash:
    st.success(flash, icon=":material/check_circle:")

users = list_users(wh)
tab_users, tab_add, tab_change, tab_audit = st.tabs(
    ["Users", "Add a user", "Change a user", "Audit log"])

with tab_users:
    if users.empty:
        st.caption("No users yet.")
    else:
        st.dataframe(adv.users_frame(users), hide_index=True, width="stretch")
    st.subheader("Signed in now")
    open_now = sessions.open_sessions(wh, me)
    st.caption(f"{len(open_now)} open session(s) in browsers; each ends after "
               f"{sessions.hours_text(sessions.session_hours())} without activity or "
               f"{sessions.hours_text(sessions.session_max_hours())} after sign-in, at sign-out, "
               "or when you reset the user's password, disable them or sign them out.")
    if len(open_now):
        st.dataframe(sessions_frame(open_now), hide_index=True, width="stretch")

with tab_add, st.form("adm_add", clear_on_submit=True):
    name = st.text_input("Username", key="adm_new_name")
    role = st.selectbox("Role", adv.ROLE_ORDER, index=adv.role_index(),
                        format_func=auth.ROLES.get, key="adm_new_role", help=adv.ROLE_HELP)
    pins = st.text_input("PIN codes (store users only, comma-separated)", key="adm_new_pins")
    pw = st.text_input("Password (at least 10 characters)", type="password", key="adm_new_pw")
    pw2 = st.text_input("Repeat the password", type="password", key="adm_new_pw2")
    if st.form_submit_button("Add user", type="primary"):
        if pw != pw2:
            st.error("The two passwords are not the same; type them again.")
        elif _run(auth.create_user, name, pw, role, pins):
            _done(f"Added {auth.normalise_username(name)} ({auth.ROLES[role]}).")

with tab_change:
    if users.empty:
        st.caption("No users yet.")
    else:
        who = st.selectbox("User", users["username"].tolist(), key="adm_who")
        row = users.set_index("username").loc[who]
        st.caption(f"{auth.ROLES[row['role']]} · "
                   f"{'disabled' if row['disabled'] else 'active'}"
                   + (f" · PIN {row['pin_codes']}" if row["pin_codes"] else ""))
        with st.form("adm_role"):
            new_role = st.selectbox("Role", adv.ROLE_ORDER, format_func=auth.ROLES.get,
                                    index=adv.role_index(row["role"]), key="adm_role_role",
                                    help=adv.ROLE_HELP)
            new_pins = st.text_input("PIN codes (store users only)", value=row["pin_codes"],
                                     key="adm_role_pins")
            if st.form_submit_button("Save role and PIN codes") and \
                    _run(auth.set_role, who, new_role, new_pins):
                _done(f"{who} is now {auth.ROLES[new_role]}.")
        verb = "Enable" if row["disabled"] else "Disable"
        if st.button(f"{verb} {who}", key="adm_toggle") and \
                _run(auth.set_disabled, who, not row["disabled"]):
            _done(f"{who} is {'enabled' if row['disabled'] else 'disabled'}.")
        if st.button(f"Sign {who} out everywhere", key="adm_end_sessions",
                     help="Ends every open session of this user (every browser and tab); "
                          "they sign in again to continue.") and \
                _run(sessions.end_sessions_of, who):
            _done(f"{who} is signed out everywhere.")
        with st.form("adm_reset", clear_on_submit=True):
            rp = st.text_input("New password", type="password", key="adm_reset_pw")
            rp2 = st.text_input("Repeat the new password", type="password", key="adm_reset_pw2")
            if st.form_submit_button("Reset password"):
                if rp != rp2:
                    st.error("The two passwords are not the same; type them again.")
                elif _run(auth.reset_password, who, rp):
                    _done(f"New password set for {who}; their open sessions have ended.")

with tab_audit:
    left, right = st.columns(2)
    kind = left.selectbox("Actions", ["All", "auth", "user", "ingest", "alert"],
                          format_func={"All": "All", "auth": "Sign-ins and sign-outs",
                                       "user": "User changes", "ingest": "Uploads and rollbacks",
                                       "alert": "Alerts and alert settings"}.get,
                          key="adm_audit_kind")
    actor = right.text_input("Who (username)", key="adm_audit_actor").strip().lower()
    log = read_audit_log(wh, None if kind == "All" else kind, actor or None, limit=1000)
    st.caption(adv.audit_caption(len(log), 1000))
    st.dataframe(adv.audit_frame(log), hide_index=True, width="stretch",
                 column_config={"Details": st.column_config.TextColumn("Details",
                                                                       width="large")})
