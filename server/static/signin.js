// Browser sign-in for passkinit: a discoverable passkey sign-in whose result
// goes back to passkinit's loopback address as a one-time code.
import { api, credentialJSON, explain, requestOptions, supported } from "./webauthn.js";

const $ = (id) => document.getElementById(id);

function say(text) {
  $("status").textContent = text;
}

function fail(text) {
  const a = $("alert");
  a.textContent = text;
  a.hidden = false;
  say("");
}

async function signIn() {
  const button = $("go");
  const q = new URLSearchParams(window.location.search);
  const params = {
    redirect_uri: q.get("redirect_uri") || "",
    binding_key: q.get("binding_key") || "",
    state: q.get("state") || "",
  };
  $("alert").hidden = true;
  button.disabled = true;
  button.setAttribute("aria-busy", "true");
  say("Waiting for your passkey…");
  try {
    const begin = await api("POST", "/v1/page/signin/begin", params);
    const cred = await navigator.credentials.get({ publicKey: requestOptions(begin.publicKey) });
    say("Checking your passkey…");
    const fin = await api("POST", "/v1/page/signin/finish", { flow: begin.flow, credential: credentialJSON(cred) });
    say("Signed in as " + fin.principal + ". Returning to passkinit…");
    document.body.dataset.state = "done";
    window.location.replace(fin.redirect);
  } catch (err) {
    fail(explain(err));
    button.disabled = false;
    button.removeAttribute("aria-busy");
    button.focus();
  }
}

function init() {
  const button = $("go");
  if (!button) return;
  if (!supported()) {
    fail("This browser cannot use passkeys. Open the link in a current browser.");
    button.disabled = true;
    return;
  }
  button.addEventListener("click", signIn);
  document.body.dataset.ready = "true";
}

init();
