// The "Security info" page: sign in with a temporary access pass, a
// passkey or (when passkdc has Kerberos configured, data-kerberos on the
// body) the Windows (Kerberos) login, then list, add, rename and remove
// passkeys.
import { ApiError, api, creationOptions, credentialJSON, explain, requestOptions, supported } from "./webauthn.js";
import { busy, clearAlert, el, fail, hidden, say, time, logout } from "./dom.js";

const $ = (id) => document.getElementById(id);
const state = { session: null, creds: [] };

// Session.

async function loadSession() {
  try {
    state.session = await api("GET", "/v1/page/session");
  } catch (err) {
    state.session = null;
    if (!(err instanceof ApiError && err.status === 401)) fail(explain(err));
  }
  render();
  if (state.session) await loadCreds();
}

function render() {
  const s = state.session;
  $("signin").hidden = !!s;
  $("account").hidden = !s;
  $("who").hidden = !s;
  $("signout").hidden = !s;
  document.body.dataset.view = s ? "account" : "signin";
  $("kerberos-note").hidden = !s || s.via !== "kerberos";
  if (!s) return;
  $("who").textContent = "Signed in as " + (s.display_name ? s.display_name + " (" + s.principal + ")" : s.principal);
  renderProfile(s.profile);
}

function renderProfile(p) {
  const box = $("profile");
  box.replaceChildren();
  if (!p || !p.name) return;
  const rules = el("ul", { class: "rules" });
  for (const r of p.rules || []) rules.append(el("li", { text: r }));
  box.append(el("p", {}, "Passkey profile ", el("strong", { text: p.name }), ":"), rules);
}

async function signedIn(session, how) {
  state.session = session;
  clearAlert();
  render();
  say("Signed in as " + session.principal + " " + how + ".");
  await loadCreds();
  $("keys-h").focus();
}

async function tapSignIn(ev) {
  ev.preventDefault();
  clearAlert();
  const input = $("tap");
  if (!input.value.trim()) {
    input.setAttribute("aria-invalid", "true");
    fail("Type the temporary access pass you were given.");
    input.focus();
    return;
  }
  input.removeAttribute("aria-invalid");
  const button = ev.submitter || $("tap-form").querySelector("button");
  await busy(button, async () => {
    try {
      say("Checking the pass…");
      const s = await api("POST", "/v1/page/tap", { tap: input.value });
      input.value = "";
      await signedIn(s, "with a temporary access pass");
    } catch (err) {
      say("");
      input.setAttribute("aria-invalid", "true");
      fail(explain(err));
      input.focus();
    }
  });
}

// kerberosSentences are the page's words for the refusals of a Kerberos
// sign-in: the API's messages name tickets, SIDs and config keys.
const kerberosSentences = {
  kerberos_unavailable: "Signing in with your Windows login is not set up here. Ask your helpdesk for a temporary access pass.",
  kerberos_invalid: "Your browser did not send a valid Windows (Kerberos) login for passkdc. Sign in to Windows with your domain account on a computer joined to the domain and try again, or use a temporary access pass.",
  kerberos_wrong_service: "Your browser sent a Kerberos ticket for another service, not for passkdc. Tell your administrator.",
  kerberos_weak_enctype: "Your Windows login uses old encryption that passkdc does not accept. Tell your administrator.",
  kerberos_no_pac: "Your Windows login does not say which directory account it belongs to. Tell your administrator.",
  kerberos_unknown_user: "passkdc does not know your account yet. Try again later, or ask your helpdesk for a temporary access pass.",
  kerberos_sid_mismatch: "Your Windows login does not match your account in passkdc. Tell your administrator.",
  kerberos_not_allowed: "Your account may not set up a passkey with your Windows login. Ask your helpdesk for a temporary access pass.",
  kerberos_ticket_stale: "Your Windows login is too old to set up a passkey. Sign out of Windows and in again, then try again.",
  kerberos_passkey_exists: "You already have a passkey. Sign in with it, or with a temporary access pass, to add another.",
};

async function kerberosSignIn(ev) {
  clearAlert();
  await busy(ev.currentTarget, async () => {
    try {
      say("Checking your Windows login…");
      // The browser answers the 401 Negotiate challenge itself when
      // passkdc's host is in its Kerberos allow-list.
      const s = await api("POST", "/v1/page/kerberos");
      await signedIn(s, "with your Windows (Kerberos) login");
    } catch (err) {
      say("");
      fail((err instanceof ApiError && kerberosSentences[err.code]) || explain(err));
    }
  });
}

async function passkeySignIn(ev) {
  clearAlert();
  await busy(ev.currentTarget, async () => {
    try {
      say("Waiting for your passkey…");
      const begin = await api("POST", "/v1/page/login/begin", {});
      const cred = await navigator.credentials.get({ publicKey: requestOptions(begin.publicKey) });
      const s = await api("POST", "/v1/page/login/finish", { session: begin.session, credential: credentialJSON(cred) });
      await signedIn(s, "with a passkey");
    } catch (err) {
      say("");
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
  state.creds = [];
  $("creds").replaceChildren();
  render();
  say(text);
  $("signin-h").focus();
}

// Passkeys.

async function call(method, path, body) {
  try {
    return await api(method, path, body, state.session && state.session.csrf_token);
  } catch (err) {
    if (err instanceof ApiError && err.code === "page_session_required") {
      signedOut("Your session has ended. Sign in again.");
    }
    throw err;
  }
}

async function loadCreds() {
  try {
    const data = await call("GET", "/v1/page/credentials");
    state.creds = data.credentials || [];
  } catch (err) {
    fail(explain(err));
    return;
  }
  renderCreds();
}

function renderCreds() {
  const list = $("creds");
  list.replaceChildren(...state.creds.map(credItem));
  $("empty").hidden = state.creds.length > 0;
  list.hidden = state.creds.length === 0;
}

function credItem(c) {
  const li = el("li", { class: "cred", "data-id": c.id });
  const title = el("h3", { class: "cred-name", id: "name-" + c.id, tabindex: "-1", text: c.name || "Passkey" });
  const badges = el("p", { class: "badges" },
    el("span", { class: "badge " + (c.synced ? "synced" : "bound"), text: c.synced ? "Synced" : "Device-bound" }),
    c.current ? el("span", { class: "badge current", text: "Signed in with this passkey" }) : null);
  const model = c.model || (c.aaguid === "00000000-0000-0000-0000-000000000000" ? "Not disclosed" : "Unknown model");
  const meta = el("dl", { class: "meta" },
    el("dt", { text: "Authenticator" }), el("dd", {}, model, el("br"), el("code", { class: "aaguid", text: c.aaguid || "" })),
    el("dt", { text: "Added" }), el("dd", {}, time(c.created)),
    el("dt", { text: "Last used" }), el("dd", {}, time(c.last_used)));
  const rename = el("button", { type: "button", class: "rename" }, "Rename", hidden(" " + (c.name || "passkey")));
  const remove = el("button", { type: "button", class: "danger remove" }, "Remove", hidden(" " + (c.name || "passkey")));
  rename.addEventListener("click", () => openRename(li, c, rename));
  remove.addEventListener("click", () => openRemove(li, c, remove));
  li.append(el("div", { class: "cred-head" }, title, badges), meta, el("div", { class: "actions" }, rename, remove));
  return li;
}

function closePanels(li) {
  for (const p of li.querySelectorAll(".panel")) p.remove();
}

function openRename(li, c, opener) {
  closePanels(li);
  const id = "rename-" + c.id;
  const input = el("input", { id, type: "text", maxlength: "64", value: c.name || "", required: true, autocomplete: "off" });
  const save = el("button", { type: "submit", class: "primary", text: "Save" });
  const cancel = el("button", { type: "button", text: "Cancel" });
  const form = el("form", { class: "panel rename-form", novalidate: true },
    el("label", { for: id, text: "New name for “" + (c.name || "passkey") + "”" }), input,
    el("div", { class: "actions" }, save, cancel));
  cancel.addEventListener("click", () => { form.remove(); opener.focus(); });
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    clearAlert();
    const name = input.value.trim();
    if (!name) {
      input.setAttribute("aria-invalid", "true");
      fail("A passkey needs a name.");
      input.focus();
      return;
    }
    await busy(save, async () => {
      try {
        const updated = await call("PATCH", "/v1/page/credentials/" + encodeURIComponent(c.id), { name });
        Object.assign(c, updated);
        renderCreds();
        say("Passkey renamed to “" + updated.name + "”.");
        const again = $("creds").querySelector('[data-id="' + CSS.escape(c.id) + '"] .rename');
        if (again) again.focus();
      } catch (err) {
        fail(explain(err));
        input.focus();
      }
    });
  });
  li.append(form);
  input.focus();
  input.select();
}

function openRemove(li, c, opener, serverMessage) {
  closePanels(li);
  const confirmCurrent = c.current || !!serverMessage;
  const text = serverMessage ||
    (c.current
      ? "This is the passkey you signed in with. Removing it signs you out of this page."
      : "You will no longer be able to sign in with “" + (c.name || "this passkey") + "”.");
  const yes = el("button", { type: "button", class: "danger confirm-remove", text: confirmCurrent ? "Remove and sign out" : "Remove passkey" });
  const no = el("button", { type: "button", text: "Keep it" });
  const panel = el("div", { class: "panel confirm", role: "group", "aria-labelledby": "confirm-" + c.id },
    el("p", { id: "confirm-" + c.id, text: "Remove “" + (c.name || "passkey") + "”? " + text }),
    el("div", { class: "actions" }, yes, no));
  no.addEventListener("click", () => { panel.remove(); opener.focus(); });
  yes.addEventListener("click", async () => {
    clearAlert();
    await busy(yes, async () => {
      try {
        const res = await call("DELETE", "/v1/page/credentials/" + encodeURIComponent(c.id), { confirm: confirmCurrent });
        if (res.signed_out) {
          signedOut("Passkey “" + (c.name || "passkey") + "” removed. You are signed out.");
          return;
        }
        state.creds = state.creds.filter((x) => x.id !== c.id);
        renderCreds();
        say("Passkey “" + (c.name || "passkey") + "” removed.");
        $("keys-h").focus();
      } catch (err) {
        if (err instanceof ApiError && err.code === "confirmation_required") {
          openRemove(li, c, opener, explain(err));
          return;
        }
        fail(explain(err));
      }
    });
  });
  li.append(panel);
  yes.focus();
}

async function addPasskey(ev) {
  ev.preventDefault();
  clearAlert();
  const nameInput = $("new-name");
  const button = ev.submitter || $("add-form").querySelector("button");
  await busy(button, async () => {
    try {
      say("Follow your browser's instructions to create the passkey…");
      const begin = await call("POST", "/v1/page/credentials/begin", {});
      const cred = await navigator.credentials.create({ publicKey: creationOptions(begin.publicKey) });
      say("Checking the new passkey…");
      const added = await call("POST", "/v1/page/credentials/finish",
        { session: begin.session, credential: credentialJSON(cred), name: nameInput.value });
      nameInput.value = "";
      if (state.session.via === "kerberos") {
        // A Kerberos session only bootstraps the first passkey: it is over.
        signedOut("Passkey “" + added.name + "” added. Sign in with your passkey to manage your passkeys.");
        return;
      }
      await loadCreds();
      say("Passkey “" + added.name + "” added.");
      const title = document.getElementById("name-" + added.id);
      if (title) title.focus();
    } catch (err) {
      say("");
      fail(explain(err));
    }
  });
}

function init() {
  if (!supported()) {
    fail("This browser cannot use passkeys. Use a current browser to manage your passkeys.");
    $("passkey-signin").disabled = true;
  }
  $("tap-form").addEventListener("submit", tapSignIn);
  $("passkey-signin").addEventListener("click", passkeySignIn);
  $("kerberos-card").hidden = document.body.dataset.kerberos !== "on";
  $("kerberos-signin").addEventListener("click", kerberosSignIn);
  $("signout").addEventListener("click", signOut);
  $("add-form").addEventListener("submit", addPasskey);
  loadSession().finally(() => { document.body.dataset.ready = "true"; });
}

init();
