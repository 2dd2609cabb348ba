// Shared helpers of the passkdc pages: base64url, WebAuthn option and
// response conversion, and JSON calls to /v1/page/... with the error shape of
// the passkdc API ({"error": code, "message": text}).

export function fromB64url(s) {
  const b64 = s.replace(/-/g, "+").replace(/_/g, "/");
  const bin = atob(b64 + "===".slice((b64.length + 3) % 4));
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out.buffer;
}

export function toB64url(buf) {
  const bytes = new Uint8Array(buf);
  let bin = "";
  for (const b of bytes) bin += String.fromCharCode(b);
  return btoa(bin).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

function descriptors(list) {
  return (list || []).map((d) => ({ ...d, id: fromB64url(d.id) }));
}

// creationOptions turns the server's JSON options into what
// navigator.credentials.create() takes.
export function creationOptions(pk) {
  return {
    ...pk,
    challenge: fromB64url(pk.challenge),
    user: { ...pk.user, id: fromB64url(pk.user.id) },
    excludeCredentials: descriptors(pk.excludeCredentials),
  };
}

// requestOptions does the same for navigator.credentials.get().
export function requestOptions(pk) {
  const o = { ...pk, challenge: fromB64url(pk.challenge) };
  if (pk.allowCredentials) o.allowCredentials = descriptors(pk.allowCredentials);
  return o;
}

// credentialJSON encodes a PublicKeyCredential the way the server parses it.
export function credentialJSON(cred) {
  const r = cred.response;
  const response = { clientDataJSON: toB64url(r.clientDataJSON) };
  if (r.attestationObject) {
    response.attestationObject = toB64url(r.attestationObject);
    if (r.getTransports) response.transports = r.getTransports();
  } else {
    response.authenticatorData = toB64url(r.authenticatorData);
    response.signature = toB64url(r.signature);
    if (r.userHandle) response.userHandle = toB64url(r.userHandle);
  }
  return {
    id: cred.id,
    rawId: toB64url(cred.rawId),
    type: cred.type,
    authenticatorAttachment: cred.authenticatorAttachment || undefined,
    clientExtensionResults: cred.getClientExtensionResults ? cred.getClientExtensionResults() : {},
    response,
  };
}

// ApiError is a refusal by passkdc.
export class ApiError extends Error {
  constructor(status, code, message) {
    super(message || code);
    this.status = status;
    this.code = code;
  }
}

// api calls a passkdc endpoint with a JSON body and returns the JSON answer.
export async function api(method, path, body, csrf) {
  const headers = { Accept: "application/json" };
  const init = { method, headers, credentials: "same-origin", cache: "no-store" };
  if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  if (csrf) headers["X-CSRF-Token"] = csrf;
  let resp;
  try {
    resp = await fetch(path, init);
  } catch (e) {
    throw new ApiError(0, "network", "passkdc cannot be reached. Check your connection and try again.");
  }
  let data = null;
  try {
    data = await resp.json();
  } catch (e) {
    data = null;
  }
  if (!resp.ok) {
    const code = (data && data.error) || "http_" + resp.status;
    const msg = (data && data.message) || resp.statusText;
    throw new ApiError(resp.status, code, msg);
  }
  return data;
}

// explain turns an error from fetch or from the WebAuthn API into a sentence.
export function explain(err) {
  if (err instanceof ApiError) {
    return sentence(err.message);
  }
  switch (err && err.name) {
    case "NotAllowedError":
      return "The passkey request was cancelled or timed out. Try again when you are ready.";
    case "InvalidStateError":
      return "This authenticator already holds a passkey for your account (a passkey removed here still counts). " +
        "Remove it in the authenticator's settings, or use another authenticator.";
    case "NotSupportedError":
      return "This browser or authenticator does not support the passkey type passkdc asks for.";
    case "SecurityError":
      return "The browser refused the passkey request for this address (it needs HTTPS and the right domain).";
    case "AbortError":
      return "The passkey request was cancelled.";
  }
  return "Something went wrong: " + ((err && err.message) || String(err));
}

function sentence(s) {
  if (!s) return "passkdc refused the request.";
  const t = s.charAt(0).toUpperCase() + s.slice(1);
  return /[.!?]$/.test(t) ? t : t + ".";
}

export function supported() {
  return typeof window.PublicKeyCredential === "function" && !!navigator.credentials;
}
