// DOM helpers shared by the passkdc pages: status and alert lines, element
// building with textContent only (Trusted Types: no innerHTML), dates and
// busy buttons.

const $ = (id) => document.getElementById(id);

const dateFormat = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });

export function say(text) {
  $("status").textContent = text;
}

export function fail(text) {
  const a = $("alert");
  a.textContent = text;
  a.hidden = false;
}

export function clearAlert() {
  $("alert").hidden = true;
  $("alert").textContent = "";
}

export function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") e.className = v;
    else if (k === "text") e.textContent = v;
    else if (k in e && typeof v === "boolean") e[k] = v;
    else e.setAttribute(k, v);
  }
  for (const c of children) if (c !== null && c !== undefined) e.append(c);
  return e;
}

export function hidden(text) {
  return el("span", { class: "vh", text });
}

export function time(iso) {
  if (!iso) return el("span", { text: "Never" });
  const d = new Date(iso);
  return el("time", { datetime: d.toISOString(), text: dateFormat.format(d) });
}

export async function busy(button, fn) {
  button.disabled = true;
  button.setAttribute("aria-busy", "true");
  try {
    return await fn();
  } finally {
    button.disabled = false;
    button.removeAttribute("aria-busy");
  }
}

// logout ends the page session with call (the page's API function); the
// page signs out either way (the cookie may already be gone).
export async function logout(call) {
  try {
    await call("POST", "/v1/page/logout", {});
  } catch (err) {
    // Signed out either way.
  }
}
