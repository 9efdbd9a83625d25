/* Order Pipeline Lab — the order page. Plain browser JavaScript: no build step, no dependencies.
 *
 * - The API's base URL comes from config.js, written at deploy time:
 *     window.ORDERLAB_CONFIG = {apiUrl: "https://abc123.execute-api.eu-west-1.amazonaws.com"}
 * - The operations' paths and the client-side rules (lengths, patterns, limits) come from the API's
 *   OpenAPI document, openapi.json, published next to the page (generated from the handler's models).
 * - Everything shown that came from the user or the API is set with textContent (never innerHTML).
 * - POST ${apiUrl}/orders carries an Idempotency-Key: a double click or a retry of the same form
 *   never creates a second order (the API replays the first answer).
 * - After a 201 the page polls GET ${apiUrl}/orders/{id} (bounded) until CONFIRMED or REJECTED; a
 *   high-value order (valueTier HIGH) is followed until the high-value route marks its priority too.
 *
 * Query parameters (for tests and demos): ?novalidate=1 skips the client-side checks so the API's
 * own 400 answer can be seen; ?pollms=<ms> and ?polltries=<n> change the polling.
 */
(function () {
  "use strict";

  const OPENAPI_URL = "openapi.json";
  // The API's rules, read from its OpenAPI document at start (rulesFrom) for instant feedback.
  // The API stays the authority: it checks everything again.
  let RULES = null;
  let PATHS = null; // {create: "/orders", get: "/orders/{orderId}"}
  const FINAL_STATUSES = new Set(["CONFIRMED", "REJECTED"]);
  const MAX_RECENT = 20;

  const params = new URLSearchParams(window.location.search);
  const config = window.ORDERLAB_CONFIG || {};
  const apiUrl = typeof config.apiUrl === "string" ? config.apiUrl.replace(/\/+$/, "") : "";
  const clientValidation = params.get("novalidate") !== "1";
  const pollIntervalMs = intSetting(params.get("pollms"), config.pollIntervalMs, 1000, 50, 60000);
  const pollMaxTries = intSetting(params.get("polltries"), config.pollMaxTries, 30, 1, 1000);
  const storageKey = "orderlab:recent-orders:" + apiUrl;

  const $ = (id) => document.getElementById(id);
  const form = $("order-form");
  const rowsBody = $("item-rows");
  const rowTemplate = $("item-row-template");
  const submitButton = $("submit");

  let inFlight = false; // a POST is on its way: further clicks are ignored
  let idempotencyKey = null; // one key per distinct request; reset whenever the form changes
  let lastOrderId = null;
  let trackToken = 0; // bumps to cancel an older polling loop

  // ------------------------------------------------------------------------------ utilities

  function intSetting(raw, configured, fallback, min, max) {
    for (const candidate of [raw, configured]) {
      const value = Number.parseInt(candidate, 10);
      if (Number.isFinite(value)) return Math.min(max, Math.max(min, value));
    }
    return fallback;
  }

  function sleep(ms) {
    return new Promise((resolve) => setTimeout(resolve, ms));
  }

  /** A random UUID v4. crypto.randomUUID exists only in secure contexts (https, localhost);
   *  an S3 website is plain http, so fall back to crypto.getRandomValues there. */
  function newIdempotencyKey() {
    if (window.crypto && typeof window.crypto.randomUUID === "function") return window.crypto.randomUUID();
    const bytes = window.crypto.getRandomValues(new Uint8Array(16));
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    const hex = Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
    return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
  }

  /** "12.5" -> 1250 cents; null when the text is not a plain amount with at most 2 decimals. */
  function parseCents(text) {
    const match = /^(\d{1,9})(?:\.(\d{1,2}))?$/.exec(text);
    if (!match) return null;
    return Number(match[1]) * 100 + Number((match[2] || "").padEnd(2, "0"));
  }

  function formatCents(cents) {
    const whole = Math.floor(cents / 100);
    const rest = String(cents % 100).padStart(2, "0");
    return `${whole.toLocaleString("en-US")}.${rest}`;
  }

  /** An amount from the API ("1000.00") shown like the form's total ("1,000.00"). */
  function formatAmount(currency, amount) {
    if (amount === undefined || amount === null || amount === "") return "";
    const cents = parseCents(String(amount));
    return `${currency || ""} ${cents === null ? String(amount) : formatCents(cents)}`.trim();
  }

  /** Length in characters as Python counts them (code points, not UTF-16 units). */
  function charLength(text) {
    return Array.from(text).length;
  }

  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  function show(node, visible) {
    node.hidden = !visible;
  }

  // ------------------------------------------------------------------------------ the API's document

  /** The path and operation object of operationId `id` in an OpenAPI document. */
  function operation(doc, id) {
    for (const [path, item] of Object.entries(doc.paths || {})) {
      for (const op of Object.values(item)) {
        if (op && op.operationId === id) return { path, op };
      }
    }
    throw new Error(`the document has no operation ${id}`);
  }

  /** The client-side rules, from the request schema of createOrder (JSON Schema 2020-12). */
  function rulesFrom(doc) {
    const schemas = (doc.components && doc.components.schemas) || {};
    const resolve = (s) => (s && s.$ref ? schemas[s.$ref.split("/").pop()] : s);
    const notNull = (s) => (s && s.anyOf ? s.anyOf.find((branch) => branch.type !== "null") : s);
    const create = operation(doc, "createOrder").op;
    const request = resolve(create.requestBody.content["application/json"].schema);
    const customer = resolve(request.properties.customer).properties;
    const items = request.properties.items;
    const line = resolve(items.items).properties;
    const email = notNull(customer.email);
    const quantity = line.quantity;
    const price = line.unitPrice;
    // JSON Schema patterns are ECMA-262 regular expressions: usable as they are.
    return {
      idPattern: new RegExp(customer.id.pattern),
      skuPattern: new RegExp(line.sku.pattern),
      nameMaxLength: customer.name.maxLength,
      emailPattern: new RegExp(email.pattern),
      emailMaxLength: email.maxLength,
      minItems: items.minItems,
      maxItems: items.maxItems,
      minQuantity: quantity.minimum !== undefined ? quantity.minimum : quantity.exclusiveMinimum + 1,
      maxQuantity: quantity.maximum,
      priceDecimals: price["x-decimal-places"],
      maxPriceCents: Math.round(price.maximum * 100),
      currencyPattern: new RegExp(request.properties.currency.pattern),
      faults: notNull(request.properties.fault).enum,
      maxBodyBytes: create.requestBody["x-max-body-bytes"],
    };
  }

  async function loadApiDocument() {
    const response = await fetch(OPENAPI_URL, { cache: "no-store" });
    if (!response.ok) throw new Error(`HTTP ${response.status} for ${OPENAPI_URL}`);
    const doc = await response.json();
    PATHS = { create: operation(doc, "createOrder").path, get: operation(doc, "getOrder").path };
    RULES = rulesFrom(doc);
  }

  function orderUrl(orderId) {
    return apiUrl + PATHS.get.replace("{orderId}", encodeURIComponent(orderId));
  }

  /** One line under the items: the limits the API sets, as the document says. */
  function showHints() {
    $("items-hint").textContent =
      `${RULES.minItems}-${RULES.maxItems} items; quantity a whole number from ${RULES.minQuantity} to ` +
      `${RULES.maxQuantity}; unit price more than 0 and at most ${formatCents(RULES.maxPriceCents)}, ` +
      `at most ${RULES.priceDecimals} decimals.`;
    $("customer-name").placeholder = `Ada Lovelace (at most ${RULES.nameMaxLength} characters)`;
  }

  // ------------------------------------------------------------------------------ item rows

  function rows() {
    return Array.from(rowsBody.querySelectorAll("tr.item-row"));
  }

  function addRow(values) {
    if (rows().length >= RULES.maxItems) {
      $("items-error").textContent = `An order has at most ${RULES.maxItems} items.`;
      return null;
    }
    const row = document.importNode(rowTemplate.content, true).querySelector("tr");
    if (values) {
      row.querySelector(".item-sku").value = values.sku || "";
      row.querySelector(".item-quantity").value = values.quantity != null ? String(values.quantity) : "1";
      row.querySelector(".item-price").value = values.unitPrice != null ? String(values.unitPrice) : "";
    }
    row.querySelector(".remove-item").addEventListener("click", () => {
      row.remove();
      formChanged();
    });
    rowsBody.appendChild(row);
    updateTotal();
    return row;
  }

  function updateTotal() {
    const currency = $("currency").value;
    let total = 0;
    for (const row of rows()) {
      const quantityText = row.querySelector(".item-quantity").value.trim();
      const cents = parseCents(row.querySelector(".item-price").value.trim());
      const quantity = /^\d{1,4}$/.test(quantityText) ? Number(quantityText) : null;
      const cell = row.querySelector(".line-total");
      if (cents === null || quantity === null) {
        cell.textContent = "—";
        continue;
      }
      total += cents * quantity;
      cell.textContent = formatCents(cents * quantity);
    }
    $("order-total").textContent = `${currency} ${formatCents(total)}`;
    $("add-item").disabled = rows().length >= RULES.maxItems;
  }

  // ------------------------------------------------------------------------------ reading and checking the form

  /** The request body (as the API expects it) plus every client-side problem found. */
  function readForm() {
    const errors = [];
    const problem = (field, message) => errors.push({ field, message });

    const id = $("customer-id").value.trim();
    const name = $("customer-name").value;
    const email = $("customer-email").value.trim();
    if (!id) problem("customer.id", "Enter the customer id.");
    else if (!RULES.idPattern.test(id)) problem("customer.id", `Use letters, digits, '-' or '_' (no spaces): ${RULES.idPattern.source}`);
    const nameLength = charLength(name.trim());
    if (nameLength === 0) problem("customer.name", "Enter the customer's name.");
    else if (nameLength > RULES.nameMaxLength) problem("customer.name", `At most ${RULES.nameMaxLength} characters (now ${nameLength}).`);
    if (email && (email.length > RULES.emailMaxLength || !RULES.emailPattern.test(email))) {
      problem("customer.email", "Enter an address like name@example.com, or leave it empty.");
    }

    const items = [];
    const allRows = rows();
    if (allRows.length < RULES.minItems) problem("items", "Add at least one item.");
    if (allRows.length > RULES.maxItems) problem("items", `An order has at most ${RULES.maxItems} items.`);
    allRows.forEach((row, index) => {
      const sku = row.querySelector(".item-sku").value.trim();
      const quantityText = row.querySelector(".item-quantity").value.trim();
      const priceText = row.querySelector(".item-price").value.trim();
      if (!sku) problem(`items[${index}].sku`, "Enter the SKU.");
      else if (!RULES.skuPattern.test(sku)) problem(`items[${index}].sku`, `Use letters, digits, '-' or '_': ${RULES.skuPattern.source}`);
      let quantity = null;
      if (/^\d+$/.test(quantityText)) quantity = Number(quantityText);
      if (quantity === null || quantity < RULES.minQuantity || quantity > RULES.maxQuantity) {
        problem(`items[${index}].quantity`, `A whole number from ${RULES.minQuantity} to ${RULES.maxQuantity}.`);
      }
      const cents = parseCents(priceText);
      if (cents === null) {
        problem(`items[${index}].unitPrice`, `A price like 12.50 (at most ${RULES.priceDecimals} decimals).`);
      } else if (cents <= 0 || cents > RULES.maxPriceCents) {
        problem(`items[${index}].unitPrice`, `More than 0 and at most ${formatCents(RULES.maxPriceCents).replace(/,/g, "")}.`);
      }
      items.push({
        sku,
        // Sent as numbers when they look like numbers; otherwise as typed (the API then says why).
        quantity: /^-?\d+(\.\d+)?$/.test(quantityText) ? Number(quantityText) : quantityText,
        unitPrice: /^-?\d+(\.\d+)?$/.test(priceText) ? Number(priceText) : priceText,
      });
    });

    const currency = $("currency").value;
    if (!RULES.currencyPattern.test(currency)) problem("currency", "Three capital letters, e.g. USD.");
    const fault = $("fault").value;
    if (fault && !RULES.faults.includes(fault)) problem("fault", `${RULES.faults.join(", ")} or none.`);

    const customer = { id, name };
    if (email) customer.email = email;
    const order = { customer, items, currency };
    if (fault) order.fault = fault;
    const size = new TextEncoder().encode(JSON.stringify(order)).length;
    if (size > RULES.maxBodyBytes) problem("body", `The order is too large (${size} bytes; at most ${RULES.maxBodyBytes}).`);
    return { order, errors };
  }

  // ------------------------------------------------------------------------------ showing errors

  /** Where an error about `field` (an API path such as items[2].quantity) is shown; null: summary only. */
  function errorSlot(field) {
    const simple = {
      "customer.id": ["customer-id", "customer-id-error"],
      "customer.name": ["customer-name", "customer-name-error"],
      "customer.email": ["customer-email", "customer-email-error"],
      customer: [null, "customer-error"],
      items: [null, "items-error"],
      currency: ["currency", "currency-error"],
      fault: ["fault", "fault-error"],
    };
    if (simple[field]) {
      const [inputId, messageId] = simple[field];
      return { input: inputId ? $(inputId) : null, message: $(messageId) };
    }
    const match = /^items\[(\d+)\](?:\.(\w+))?$/.exec(field);
    if (match) {
      const row = rows()[Number(match[1])];
      if (!row) return { input: null, message: $("items-error") };
      const classes = { sku: "item-sku", quantity: "item-quantity", unitPrice: "item-price" };
      const cls = classes[match[2]];
      if (cls) return { input: row.querySelector(`.${cls}`), message: row.querySelector(`.${cls}-error`) };
      return { input: null, message: row.querySelector(".item-error") };
    }
    return null;
  }

  function clearErrors() {
    for (const node of form.querySelectorAll(".field-error")) node.textContent = "";
    for (const node of form.querySelectorAll("[aria-invalid]")) {
      node.removeAttribute("aria-invalid");
      node.classList.remove("invalid");
    }
    setBanner(null);
  }

  /** A banner under the form: kind "error" | "info" | "success"; lines are shown as a list. */
  function setBanner(kind, title, lines) {
    const banner = $("form-message");
    banner.replaceChildren();
    banner.className = "banner";
    if (!kind) {
      show(banner, false);
      banner.removeAttribute("data-kind");
      return;
    }
    banner.classList.add(`banner-${kind}`);
    banner.dataset.kind = kind;
    banner.appendChild(el("strong", null, title));
    if (lines && lines.length) {
      const list = el("ul");
      for (const line of lines) list.appendChild(el("li", null, line));
      banner.appendChild(list);
    }
    show(banner, true);
  }

  /** Put each error next to its input and list them all in the banner. source: "client" | "api". */
  function showErrors(errors, title, source) {
    const lines = [];
    for (const error of errors) {
      const field = String(error.field || "body");
      const message = String(error.message || "invalid");
      const slot = errorSlot(field);
      if (slot && slot.message) {
        slot.message.textContent = slot.message.textContent ? `${slot.message.textContent} ${message}` : message;
        slot.message.dataset.source = source;
      }
      if (slot && slot.input) {
        slot.input.setAttribute("aria-invalid", "true");
        slot.input.classList.add("invalid");
      }
      lines.push(`${field}: ${message}`);
    }
    setBanner("error", title, lines);
    const firstInvalid = form.querySelector("[aria-invalid='true']");
    if (firstInvalid) firstInvalid.focus();
  }

  // ------------------------------------------------------------------------------ submitting

  function networkErrorText(error) {
    return [
      `Could not reach the order API at ${apiUrl} (${error && error.message ? error.message : error}).`,
      "Either the API is not running, or the browser blocked the request because the API does not allow " +
        `this page's origin (${window.location.origin}) in its CORS settings.`,
      "Publish the page with helpers.learn.page.publish_frontend(lab, api_url): it sets the API's allowed origin to the page's.",
      "Clicking “Place order” again is safe: it resends the same request with the same Idempotency-Key.",
    ];
  }

  async function submitOrder(event) {
    event.preventDefault();
    if (inFlight) return; // a second click while the first POST is on its way
    if (!apiUrl) return;
    clearErrors();
    const { order, errors } = readForm();
    if (clientValidation && errors.length) {
      showErrors(errors, "Please correct the highlighted fields (nothing was sent):", "client");
      return;
    }
    if (!idempotencyKey) idempotencyKey = newIdempotencyKey();
    const key = idempotencyKey;
    inFlight = true;
    submitButton.disabled = true;
    form.setAttribute("aria-busy", "true");
    $("submit-state").textContent = "Sending…";
    let response;
    let body = null;
    try {
      response = await fetch(apiUrl + PATHS.create, {
        method: "POST",
        mode: "cors",
        credentials: "omit",
        headers: { "Content-Type": "application/json", "Idempotency-Key": key },
        body: JSON.stringify(order),
      });
      const text = await response.text();
      try {
        body = text ? JSON.parse(text) : null;
      } catch (_) {
        body = { message: text };
      }
    } catch (error) {
      // fetch rejects (TypeError) on network failures and on CORS refusals alike.
      setBanner("error", "Network error: no answer from the order API.", networkErrorText(error));
      $("submit-state").textContent = "";
      return;
    } finally {
      inFlight = false;
      submitButton.disabled = false;
      form.removeAttribute("aria-busy");
    }
    $("submit-state").textContent = "";

    if (response.status === 201 || response.status === 200) {
      const replay = body && body.orderId === lastOrderId;
      setBanner("success", replay
        ? "Same request as before: the API returned the order it already created (nothing new was written)."
        : `Order accepted (HTTP ${response.status}).`);
      startTracking(body, order);
      return;
    }
    if (response.status === 400 && body && Array.isArray(body.errors)) {
      showErrors(body.errors, "The API refused the order (HTTP 400) — nothing was written:", "api");
      return;
    }
    if (response.status === 422) {
      idempotencyKey = null; // that key belongs to another request: the next click gets a fresh one
      setBanner("error", "The API refused the order (HTTP 422).", [
        (body && body.message) || "The Idempotency-Key was already used with a different request.",
        "Click “Place order” again to send it as a new order.",
      ]);
      return;
    }
    const message = body && body.message ? String(body.message) : "no details";
    setBanner("error", `The API answered HTTP ${response.status}.`, [message,
      response.status >= 500 ? "The function failed: look at its CloudWatch log group (/aws/lambda/<prefix>-create-order)." : ""]
      .filter(Boolean));
  }

  function formChanged() {
    idempotencyKey = null; // a different request needs a different key
    updateTotal();
  }

  function resetForm() {
    form.reset();
    rowsBody.replaceChildren();
    addRow();
    clearErrors();
    idempotencyKey = null;
    updateTotal();
    $("customer-id").focus();
  }

  // ------------------------------------------------------------------------------ status of the current order

  function renderStatus(status, reason) {
    const badge = $("order-status");
    badge.textContent = status || "UNKNOWN";
    badge.className = `status status-${String(status || "unknown").toLowerCase()}`;
    badge.dataset.status = status || "";
    const reasonNode = $("status-reason");
    if (reason) {
      reasonNode.replaceChildren(el("strong", null, "Reason: "), document.createTextNode(String(reason)));
      show(reasonNode, true);
    } else {
      reasonNode.replaceChildren();
      show(reasonNode, false);
    }
  }

  /** The high-value facts: "P1 · VIP" once the route marked it, "waiting…" before; hidden otherwise. */
  function renderPriority(valueTier, priority, customerTier) {
    const row = document.querySelectorAll(".priority-row");
    const value = $("order-priority");
    if (priority) {
      value.textContent = customerTier ? `${priority} · customer tier ${customerTier}` : String(priority);
      value.dataset.priority = String(priority);
    } else {
      value.textContent = "high value: waiting for the priority mark…";
      value.dataset.priority = "";
    }
    for (const node of row) show(node, Boolean(priority) || valueTier === "HIGH");
  }

  /** What the worker noted on an order it failed on (attempts, last error): a poison order's story. */
  function renderFailures(failedAttempts, lastError) {
    const note = $("failure-note");
    const attempts = Number.parseInt(failedAttempts, 10);
    if (!Number.isFinite(attempts) || attempts < 1) {
      note.replaceChildren();
      note.dataset.attempts = "";
      show(note, false);
      return;
    }
    note.replaceChildren(
      el("strong", null, `The worker failed on it ${attempts} time${attempts === 1 ? "" : "s"}`),
      document.createTextNode(lastError ? ` — last error: ${lastError}` : ""),
    );
    note.dataset.attempts = String(attempts);
    show(note, true);
  }

  function showOrder(entry) {
    lastOrderId = entry.orderId;
    $("order-id").textContent = entry.orderId;
    $("order-customer").textContent = entry.customerName || "";
    $("order-amount").textContent = formatAmount(entry.currency, entry.total);
    renderStatus(entry.status, entry.statusReason);
    renderPriority(entry.valueTier, entry.priority, entry.customerTier);
    renderFailures(entry.failedAttempts, entry.lastError);
    show($("current-order"), true);
    show($("no-order"), false);
  }

  function startTracking(created, order) {
    const entry = {
      orderId: String(created.orderId),
      customerName: order ? order.customer.name.trim() : "",
      total: created.total,
      currency: created.currency,
      createdAt: created.createdAt,
      status: created.status || "PENDING",
      statusReason: null,
      valueTier: created.valueTier || null,
    };
    upsertRecent(entry, true);
    showOrder(entry);
    track(entry.orderId);
  }

  async function fetchOrder(orderId) {
    const response = await fetch(orderUrl(orderId), {
      mode: "cors",
      credentials: "omit",
      cache: "no-store",
    });
    let body = null;
    try {
      body = await response.json();
    } catch (_) {
      body = null;
    }
    return { status: response.status, body };
  }

  /** Poll GET /orders/{id} until a final status, at most pollMaxTries times. */
  async function track(orderId) {
    const token = ++trackToken;
    const detail = $("status-detail");
    const again = $("check-again");
    show(again, false);
    detail.dataset.state = "polling";
    let status = "PENDING";
    let awaitingPriority = false;
    let failedAttempts = 0;
    const started = performance.now();
    for (let attempt = 1; attempt <= pollMaxTries; attempt++) {
      // 250 ms, 500 ms, then every pollIntervalMs: most orders are decided within a second.
      await sleep(Math.min(pollIntervalMs, 250 * 2 ** (attempt - 1)));
      if (token !== trackToken) return; // another order is being tracked now
      let reply;
      try {
        reply = await fetchOrder(orderId);
      } catch (error) {
        detail.textContent = `Check ${attempt} of ${pollMaxTries}: network error (${error.message}); trying again…`;
        continue;
      }
      if (token !== trackToken) return;
      if (reply.status === 200 && reply.body) {
        const order = reply.body;
        status = String(order.status || "UNKNOWN");
        renderStatus(status, order.statusReason);
        renderPriority(order.valueTier, order.priority, order.customerTier);
        renderFailures(order.failedAttempts, order.lastError);
        upsertRecent({ orderId, status, statusReason: order.statusReason || null, total: order.total,
                       currency: order.currency, valueTier: order.valueTier || null,
                       priority: order.priority || null, customerTier: order.customerTier || null }, false);
        // A high-value order is done once its priority is marked too (notebook 04's route).
        awaitingPriority = order.valueTier === "HIGH" && !order.priority;
        failedAttempts = Number.parseInt(order.failedAttempts, 10) || 0;
        if (FINAL_STATUSES.has(status) && !awaitingPriority) {
          detail.textContent = `Final status after ${attempt} check${attempt === 1 ? "" : "s"}.`;
          detail.dataset.state = "final";
          return;
        }
        detail.textContent = FINAL_STATUSES.has(status)
          ? `${status} — waiting for the high-value route to mark its priority (check ${attempt} of ${pollMaxTries})…`
          : `${status} — check ${attempt} of ${pollMaxTries}, every ${pollIntervalMs / 1000} s…`;
      } else {
        const message = reply.body && reply.body.message ? reply.body.message : "";
        detail.textContent = `Check ${attempt} of ${pollMaxTries}: HTTP ${reply.status} ${message}`.trim();
      }
    }
    if (token !== trackToken) return;
    const seconds = ((performance.now() - started) / 1000).toFixed(1);
    if (FINAL_STATUSES.has(status) && awaitingPriority) {
      detail.textContent =
        `Final status ${status}; no priority mark after ${pollMaxTries} checks (${seconds} s): ` +
        "the high-value route (notebook 04) is not deployed, or the mark is still on its way.";
      detail.dataset.state = "final";
      show(again, true);
      return;
    }
    detail.textContent =
      `Timed out: still ${status} after ${pollMaxTries} checks (${seconds} s). The order is safely stored; ` +
      (failedAttempts
        ? `the worker has failed on it ${failedAttempts} time${failedAttempts === 1 ? "" : "s"} so far and the queue ` +
          "retries it; once the queue's receive limit is reached, its message waits in the dead-letter queue, " +
          "unchanged, until it is redriven (notebook 05)."
        : "it may still be retried by the pipeline, or the next steps (notebooks 02 and 03) are not deployed yet.");
    detail.dataset.state = "timeout";
    show(again, true);
  }

  // ------------------------------------------------------------------------------ recent orders (localStorage)

  function loadRecent() {
    try {
      const stored = JSON.parse(window.localStorage.getItem(storageKey) || "[]");
      return Array.isArray(stored) ? stored.filter((e) => e && typeof e.orderId === "string") : [];
    } catch (_) {
      return [];
    }
  }

  function saveRecent(entries) {
    try {
      window.localStorage.setItem(storageKey, JSON.stringify(entries.slice(0, MAX_RECENT)));
    } catch (_) {
      /* storage full or disabled: the list just is not remembered */
    }
  }

  function upsertRecent(update, isNew) {
    const entries = loadRecent();
    const index = entries.findIndex((e) => e.orderId === update.orderId);
    const clean = Object.fromEntries(Object.entries(update).filter(([, v]) => v !== undefined));
    if (index >= 0) {
      entries[index] = { ...entries[index], ...clean, updatedAt: new Date().toISOString() };
    } else if (isNew) {
      entries.unshift({ ...clean, updatedAt: new Date().toISOString() });
    } else {
      return;
    }
    saveRecent(entries);
    renderRecent();
  }

  function renderRecent() {
    const list = $("recent-orders");
    const entries = loadRecent();
    list.replaceChildren();
    for (const entry of entries) {
      const item = el("li", "recent-order");
      item.dataset.orderId = entry.orderId;
      const line = el("button", "recent-open");
      line.type = "button";
      line.title = "Show this order and refresh its status";
      line.appendChild(el("span", `status status-${String(entry.status || "unknown").toLowerCase()}`, entry.status || "?"));
      line.appendChild(el("span", "recent-name", entry.customerName || "(no name)"));
      line.appendChild(el("span", "recent-total", formatAmount(entry.currency, entry.total)));
      if (entry.priority) line.appendChild(el("span", "priority", entry.priority));
      line.appendChild(el("code", "recent-id", entry.orderId.slice(0, 8)));
      line.addEventListener("click", () => {
        showOrder(entry);
        setBanner(null);
        track(entry.orderId);
      });
      item.appendChild(line);
      if (entry.statusReason) item.appendChild(el("p", "recent-reason", entry.statusReason));
      list.appendChild(item);
    }
    show($("no-recent"), entries.length === 0);
    $("clear-recent").disabled = entries.length === 0;
  }

  /** On load: one GET for each remembered order that was not final yet (at most 10). */
  async function refreshRecent() {
    const open = loadRecent().filter((e) => !FINAL_STATUSES.has(e.status)).slice(0, 10);
    for (const entry of open) {
      try {
        const reply = await fetchOrder(entry.orderId);
        if (reply.status === 200 && reply.body) {
          upsertRecent({ orderId: entry.orderId, status: String(reply.body.status),
                         statusReason: reply.body.statusReason || null }, false);
        }
      } catch (_) {
        return; // API unreachable: keep what we have
      }
    }
  }

  // ------------------------------------------------------------------------------ start

  function showSetupError(title, text) {
    const banner = $("config-error");
    banner.replaceChildren(el("strong", null, title), document.createTextNode(text));
    show(banner, true);
    submitButton.disabled = true;
  }

  async function init() {
    if (apiUrl) {
      $("api-url").textContent = apiUrl;
      if (config.prefix) $("lab-prefix").textContent = `(prefix ${config.prefix})`;
    } else {
      showSetupError("This page has no API URL. ",
        "config.js is missing or empty: publish the page with helpers.learn.page.publish_frontend(lab, api_url), " +
        "which writes window.ORDERLAB_CONFIG = {apiUrl: …} next to it.");
    }
    try {
      await loadApiDocument();
    } catch (error) {
      showSetupError("This page cannot read the API's description. ",
        `${OPENAPI_URL}: ${error && error.message ? error.message : error}. Publish the page with ` +
        "helpers.learn.page.publish_frontend(lab, api_url), which writes it next to the page.");
      document.documentElement.dataset.ready = "true";
      return;
    }
    showHints();
    if (!clientValidation) {
      $("submit-state").textContent = "Client-side validation is off (?novalidate=1): the API checks the order.";
    }
    addRow();
    form.addEventListener("submit", submitOrder);
    form.addEventListener("input", formChanged);
    form.addEventListener("change", formChanged);
    $("add-item").addEventListener("click", () => {
      const row = addRow();
      formChanged();
      if (row) row.querySelector(".item-sku").focus();
    });
    $("new-order").addEventListener("click", resetForm);
    $("check-again").addEventListener("click", () => {
      if (lastOrderId) track(lastOrderId);
    });
    $("clear-recent").addEventListener("click", () => {
      saveRecent([]);
      renderRecent();
    });
    renderRecent();
    if (apiUrl) refreshRecent();
    document.documentElement.dataset.ready = "true";
  }

  init();
})();
