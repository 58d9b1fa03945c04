// The dashboard's own script: times in the browser's zone, live refresh, schedule preview.
// Everything works without it (times then read in UTC, pages reload by hand).
"use strict";

(function () {
  const pad = (n) => String(n).padStart(2, "0");
  const zone = (() => {
    const part = new Intl.DateTimeFormat(undefined, { timeZoneName: "short" })
      .formatToParts(new Date()).find((p) => p.type === "timeZoneName");
    return part ? part.value : "";
  })();

  // One format everywhere: 2024-01-01 13:05:00 CET (UTC in the title, on hover).
  function localText(date) {
    return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())} ` +
      `${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())} ${zone}`;
  }

  function relativeText(date) {
    const seconds = Math.round((date.getTime() - Date.now()) / 1000);
    const size = Math.abs(seconds);
    let text;
    if (size < 60) text = `${size} s`;
    else if (size < 3600) text = `${Math.round(size / 60)} min`;
    else if (size < 86400) text = `${Math.round(size / 3600)} h`;
    else text = `${Math.round(size / 86400)} d`;
    return seconds >= 0 ? `in ${text}` : `${text} ago`;
  }

  function formatTimes(root) {
    root.querySelectorAll("time[data-local]").forEach((el) => {
      const date = new Date(el.getAttribute("datetime"));
      if (Number.isNaN(date.getTime())) return;
      let text = localText(date);
      if (el.hasAttribute("data-relative")) text += ` (${relativeText(date)})`;
      el.textContent = text;
    });
  }

  // Live parts: every [data-live] element is replaced by its copy from a fresh fetch of
  // the same page; open <details> stay open, and a page that needs a login reloads.
  async function refresh() {
    if (document.hidden) return;
    let response;
    try {
      response = await fetch(window.location.href, { credentials: "same-origin" });
    } catch (err) {
      return;
    }
    if (!response.ok || new URL(response.url).pathname !== window.location.pathname) {
      if (response.redirected) window.location.reload();
      return;
    }
    const fresh = new DOMParser().parseFromString(await response.text(), "text/html");
    document.querySelectorAll("[data-live]").forEach((el) => {
      const replacement = fresh.getElementById(el.id);
      if (!replacement) return;
      const open = new Set([...el.querySelectorAll("details[open]")].map((d) => d.id));
      replacement.querySelectorAll("details").forEach((d) => { if (open.has(d.id)) d.open = true; });
      formatTimes(replacement);
      el.replaceWith(replacement);
    });
  }

  // The form's schedule preview: the next fire times as the schedule is typed.
  function setUpPreview(input) {
    const box = document.getElementById("schedule-preview");
    if (!box) return;
    const list = box.querySelector("ol");
    const description = box.querySelector(".preview-description");
    let timer = null;
    let latest = 0;
    // The server's message for the value as submitted is already shown under the field.
    const submitted = document.getElementById("schedule-error") ? input.value : null;
    async function show() {
      const schedule = input.value.trim();
      if (!schedule) { box.hidden = true; return; }
      const ask = ++latest;
      const params = new URLSearchParams({ schedule });
      const zoneInput = document.getElementById("timezone");
      if (zoneInput && zoneInput.value.trim()) params.set("timezone", zoneInput.value.trim());
      let data;
      try {
        const response = await fetch(`${input.dataset.preview}?${params}`, { credentials: "same-origin" });
        data = await response.json();
      } catch (err) {
        return;
      }
      if (ask !== latest) return;  // an older answer arriving late
      list.replaceChildren();
      if (data.error && input.value === submitted) { box.hidden = true; return; }
      box.hidden = false;
      box.classList.toggle("invalid", Boolean(data.error));
      description.textContent = data.error || data.description || "";
      (data.nextRunTimes || []).forEach((iso) => {
        const item = document.createElement("li");
        const el = document.createElement("time");
        el.setAttribute("datetime", iso);
        el.setAttribute("data-local", "");
        el.title = iso.replace("T", " ").replace(/\.\d+Z$/, " UTC");
        el.textContent = iso;
        item.appendChild(el);
        list.appendChild(item);
      });
      formatTimes(list);
    }
    input.addEventListener("input", () => { clearTimeout(timer); timer = setTimeout(show, 250); });
    const zoneInput = document.getElementById("timezone");
    if (zoneInput) zoneInput.addEventListener("change", show);
    if (input.value.trim()) show();
  }

  document.addEventListener("DOMContentLoaded", () => {
    formatTimes(document);
    const every = Number(document.body.dataset.refresh || 0);
    if (every > 0) setInterval(refresh, every);
    document.querySelectorAll("input[data-preview]").forEach(setUpPreview);
    const invalid = document.querySelector("[aria-invalid='true']");
    if (invalid) invalid.focus();
  });
})();
