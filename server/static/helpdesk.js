// The helpdesk page: staff sign in with their own passkey, look a user up
// (ticket eligibility, passkey profile, passkeys, open passes), issue a
// temporary access pass (shown once), and revoke passes and passkeys.
import { ApiError, api, credentialJSON, explain, requestOptions } from "./webauthn.js";
import { busy, clearAlert, el, fail, hidden, say, time, logout } from "./dom.js";

const $ = (id) => document.getElementById(id);
const state = { session: null, user: null };

async function call(method, path, body) {
  try {
    return await api(method, path, body, state.session && state.session.csrf_token);
  } catch (err) {
    if (err instanceof ApiError && err.code === "page_session_required") signedOut("Your session has ended. Sign in again.");
    throw err;
  }
}

function render() {
  const s = state.session;
  $("signin").hidden = !!s;
  $("desk").hidden = !s;
  $("who").hidden = !s;
  $("signout").hidden = !s;
  document.body.dataset.view = s ? "desk" : "signin";
  if (s) $("who").textContent = "Signed in as " + (s.display_name ? s.display_name + " (" + s.principal + ")" : s.principal);
  renderUser();
}

async function loadSession() {
  try {
    state.session = await api("GET", "/v1/page/helpdesk/session");
  } catch (err) {
    state.session = null;
    if (err instanceof ApiError && err.status !== 401) fail(explain(err));
  }
  render();
}

async function passkeySignIn(ev) {
  clearAlert();
  await busy(ev.currentTarget, async () => {
    try {
      say("Waiting for your passkey…");
      const begin = await api("POST", "/v1/page/login/begin", {});
      const cred = await navigator.credentials.get({ publicKey: requestOptions(begin.publicKey) });
      await api("POST", "/v1/page/login/finish", { session: begin.session, credential: credentialJSON(cred) });
      state.session = await api("GET", "/v1/page/helpdesk/session");
      render();
      say("Signed in as " + state.session.principal + ".");
      $("lookup-h").focus();
    } catch (err) {
      say("");
      state.session = null;
      render();
      fail(explain(err));
    }
  });
}

async function signOut() {
  await logout(api);
  signedOut("You are signed out.");
}

function signedOut(text) {
  state.session = null;
  state.user = null;
  render();
  say(text);
  $("signin-h").focus();
}

async function lookup(ev) {
  ev.preventDefault();
  clearAlert();
  const input = $("user");
  const name = input.value.trim();
  if (!name) {
    input.setAttribute("aria-invalid", "true");
    fail("Type the user's name.");
    input.focus();
    return;
  }
  input.removeAttribute("aria-invalid");
  await busy(ev.submitter || $("lookup-form").querySelector("button"), async () => {
    try {
      say("Looking " + name + " up…");
      state.user = await call("GET", "/v1/page/helpdesk/users/" + encodeURIComponent(name));
      say("");
      renderUser();
      $("subject-h").focus();
    } catch (err) {
      say("");
      state.user = null;
      renderUser();
      fail(explain(err));
      input.focus();
    }
  });
}

function renderUser() {
  const u = state.user;
  $("subject").hidden = !u;
  if (!u) return;
  $("subject-h").textContent = u.display_name ? u.display_name + " (" + u.principal + ")" : u.principal;
  $("facts").replaceChildren(
    el("dt", { text: "Account" }), el("dd", { text: u.state }),
    el("dt", { text: "Kerberos tickets" }), el("dd", { class: "eligible", text: (u.eligible ? "Yes: " : "No: ") + u.why }),
    el("dt", { text: "Helpdesk member" }), el("dd", { text: u.helpdesk_member ? "Yes" : "No" }));
  const box = $("profile");
  box.replaceChildren();
  if (u.profile && u.profile.name) {
    const rules = el("ul", { class: "rules" });
    for (const r of u.profile.rules || []) rules.append(el("li", { text: r }));
    box.append(el("p", {}, "Passkey profile ", el("strong", { text: u.profile.name }), " (as the user is told):"), rules);
  }
  const issued = $("issued");
  issued.hidden = !u.issued;
  $("pass").textContent = u.issued ? u.issued.pass : "";
  $("issued-meta").textContent = u.issued ? u.issued.uses + " use(s), valid until " + new Date(u.issued.expires).toLocaleString() : "";
  $("creds").replaceChildren(...u.credentials.map(credItem));
  $("no-creds").hidden = u.credentials.length > 0;
  $("passes").replaceChildren(...u.passes.map(passItem));
  $("no-passes").hidden = u.passes.length > 0;
}

function credItem(c) {
  const li = el("li", { class: "cred", "data-id": c.id });
  const meta = el("dl", { class: "meta" },
    el("dt", { text: "Authenticator" }), el("dd", {}, c.model || "Unknown model", el("br"), el("code", { class: "aaguid", text: c.aaguid || "" })),
    el("dt", { text: "Kind" }), el("dd", { text: c.synced ? "Synced" : "Device-bound" }),
    el("dt", { text: "Added" }), el("dd", {}, time(c.created)),
    el("dt", { text: "Last used" }), el("dd", {}, time(c.last_used)));
  const revoke = el("button", { type: "button", class: "danger revoke" }, "Revoke", hidden(" passkey " + (c.name || "")));
  revoke.addEventListener("click", () => revokeThing(revoke, "/v1/page/helpdesk/credentials/" + encodeURIComponent(c.id)));
  li.append(el("div", { class: "cred-head" }, el("h4", { class: "cred-name", text: c.name || "Passkey" })), meta,
    el("div", { class: "actions" }, revoke));
  return li;
}

function passItem(p) {
  const li = el("li", { class: "cred pass-item", "data-id": p.id });
  const meta = el("dl", { class: "meta" },
    el("dt", { text: "Uses left" }), el("dd", { text: String(p.uses_left) }),
    el("dt", { text: "Issued" }), el("dd", {}, time(p.created), p.created_by ? " by " + p.created_by : ""),
    el("dt", { text: "Expires" }), el("dd", {}, time(p.expires)));
  const revoke = el("button", { type: "button", class: "danger revoke" }, "Revoke", hidden(" pass " + p.id));
  revoke.addEventListener("click", () => revokeThing(revoke, "/v1/page/helpdesk/passes/" + encodeURIComponent(p.id)));
  li.append(el("div", { class: "cred-head" }, el("h4", { class: "cred-name", text: "Pass " + p.id })), meta,
    el("div", { class: "actions" }, revoke));
  return li;
}

async function revokeThing(button, path) {
  clearAlert();
  await busy(button, async () => {
    try {
      state.user = await call("DELETE", path);
      renderUser();
      say(state.user.message);
      $("subject-h").focus();
    } catch (err) {
      fail(explain(err));
    }
  });
}

function whole(input, what) {
  const n = Number(input.value.trim());
  if (!Number.isInteger(n) || n < 1) {
    input.setAttribute("aria-invalid", "true");
    fail(what + " must be a whole number of at least 1.");
    input.focus();
    return null;
  }
  input.removeAttribute("aria-invalid");
  return n;
}

async function issue(ev) {
  ev.preventDefault();
  clearAlert();
  const uses = whole($("uses"), "Uses");
  if (uses === null) return;
  const ttl = whole($("ttl"), "The lifetime");
  if (ttl === null) return;
  await busy(ev.submitter || $("issue-form").querySelector("button"), async () => {
    try {
      state.user = await call("POST", "/v1/page/helpdesk/users/" + encodeURIComponent(state.user.principal) + "/passes",
        { uses, ttl_minutes: ttl });
      renderUser();
      say(state.user.message);
      $("issued-h").focus();
    } catch (err) {
      fail(explain(err));
    }
  });
}

function init() {
  $("passkey-signin").addEventListener("click", passkeySignIn);
  $("signout").addEventListener("click", signOut);
  $("lookup-form").addEventListener("submit", lookup);
  $("issue-form").addEventListener("submit", issue);
  loadSession().finally(() => { document.body.dataset.ready = "true"; });
}

init();
