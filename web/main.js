// The page: opens the device through the wasm engine (pkg/, built by scripts/build-web.sh),
// draws glyph completion on a canvas, and runs the benchmark workloads one by one.
import init, { Page } from "./pkg/hopfield_web.js";

const $ = (id) => document.getElementById(id);
const status = (text, state) => {
  $("status").textContent = text;
  $("status").dataset.state = state;
};

let page = null;
let info = null;
let busy = false;
// A slider moved while a call ran: complete again with its final value once that call ends.
let stale = false;

// One call into the engine at a time: its state is borrowed for the length of a call.
async function exclusive(work) {
  if (busy) {
    stale = true;
    return;
  }
  busy = true;
  for (const b of document.querySelectorAll("button")) b.disabled = true;
  try {
    return await work();
  } catch (e) {
    status(`error: ${e.message ?? e}`, "error");
    throw e;
  } finally {
    busy = false;
    for (const b of document.querySelectorAll("button")) b.disabled = false;
    $("download").disabled = !page || $("results").tBodies[0].rows.length === 0;
  }
}

async function recomplete() {
  stale = false;
  await exclusive(complete);
  if (stale) recomplete();
}

function showAdapter() {
  const l = info.limits;
  const f = info.features;
  const rows = [
    ["adapter", `${info.name} (${info.backend}, ${info.kind})`],
    ["driver", info.driver || "n/a"],
    ["limits", `${info.limits_asked}: ${(l.max_storage_binding_bytes / 2 ** 20).toFixed(0)} MiB bindings, ` +
      `${(l.max_workgroup_storage_bytes / 1024).toFixed(0)} KiB workgroup memory, ` +
      `${l.max_invocations_per_workgroup} invocations per workgroup`],
    ["features", `timestamps ${f.timestamps ? "yes" : "no"}, subgroups ${f.subgroups ? `yes (${f.subgroup_size[0]}–${f.subgroup_size[1]})` : "no"}, f16 ${f.shader_f16 ? "yes" : "no"}`],
  ];
  $("adapter").innerHTML = rows.map(([k, v]) => `<tr><td>${k}</td><td>${escape(v)}</td></tr>`).join("");
}

function escape(s) {
  return String(s).replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" })[c]);
}

// Glyphs in a grid of groups (original | corrupted | retrieved), 4 groups a row.
const ZOOM = 4, GAP = 3, GROUP_GAP = 18, PER_ROW = 4, HEAD = 22;
function drawGlyphs(images) {
  const side = info.glyph_side, tile = side * ZOOM;
  const groupW = 3 * tile + 2 * GAP;
  const count = info.glyphs.length;
  const rows = Math.ceil(count / PER_ROW);
  const canvas = $("canvas");
  canvas.width = PER_ROW * groupW + (PER_ROW - 1) * GROUP_GAP + 2 * GAP;
  canvas.height = HEAD + rows * (tile + GROUP_GAP);
  const ctx = canvas.getContext("2d");
  ctx.fillStyle = "#fff";
  ctx.fillRect(0, 0, canvas.width, canvas.height);
  ctx.fillStyle = "#333";
  ctx.font = "11px system-ui, sans-serif";
  ctx.textAlign = "center";
  for (let c = 0; c < PER_ROW; c++) {
    ["original", "corrupted", "retrieved"].forEach((label, k) => {
      const x = GAP + c * (groupW + GROUP_GAP) + k * (tile + GAP) + tile / 2;
      ctx.fillText(label, x, 15);
    });
  }
  const img = ctx.createImageData(tile, tile);
  for (let g = 0; g < count; g++) {
    const gx = GAP + (g % PER_ROW) * (groupW + GROUP_GAP);
    const gy = HEAD + Math.floor(g / PER_ROW) * (tile + GROUP_GAP);
    for (let k = 0; k < 3; k++) {
      const base = (g * 3 + k) * side * side;
      for (let y = 0; y < tile; y++) {
        for (let x = 0; x < tile; x++) {
          // +1 black ink, −1 white paper, 0 (unknown) mid grey.
          const v = images[base + Math.floor(y / ZOOM) * side + Math.floor(x / ZOOM)];
          const shade = Math.round(255 * (1 - Math.min(1, Math.max(-1, v))) / 2);
          const i = 4 * (y * tile + x);
          img.data[i] = img.data[i + 1] = img.data[i + 2] = shade;
          img.data[i + 3] = 255;
        }
      }
      ctx.putImageData(img, gx + k * (tile + GAP), gy);
      ctx.strokeStyle = "#bbb";
      ctx.strokeRect(gx + k * (tile + GAP) - 0.5, gy - 0.5, tile + 1, tile + 1);
    }
  }
}

async function complete() {
  const beta = Number($("beta").value), flip = Number($("flip").value), seed = BigInt($("seed").value || 0);
  $("beta-out").textContent = beta.toFixed(2);
  $("flip-out").textContent = `${Math.round(flip * 100)}%`;
  const images = await page.complete(beta, flip, seed);
  drawGlyphs(images);
  const side2 = info.glyph_side ** 2;
  let right = 0;
  for (let g = 0; g < info.glyphs.length; g++) {
    let same = true;
    for (let p = 0; p < side2; p++) {
      if (Math.sign(images[(g * 3 + 2) * side2 + p]) !== images[g * 3 * side2 + p]) { same = false; break; }
    }
    right += same;
  }
  $("glyph-note").textContent = `${right} of ${info.glyphs.length} glyphs retrieved exactly (sign of every pixel) at β = ${beta.toFixed(2)}.`;
}

const sig3 = (v) => {
  if (v === 0 || !Number.isFinite(v)) return String(v);
  const m = Math.floor(Math.log10(Math.abs(v)));
  return m < -4 ? v.toExponential(2) : v.toFixed(Math.max(0, 2 - m));
};

function addRow(row) {
  const tr = document.createElement("tr");
  tr.dataset.workload = row.name;
  tr.dataset.status = row.status;
  const head = [row.name, row.b, row.n, row.d].map((v) => `<td>${v}</td>`).join("");
  if (row.status !== "ok") {
    tr.innerHTML = `${head}<td class="error" colspan="6">not run: ${escape(row.error)}</td>`;
  } else {
    tr.dataset.relErr = row.rel_err;
    const device = row.device_time_ms ? sig3(row.device_time_ms.median) : escape(row.device_time_note);
    tr.innerHTML = head + [device, sig3(row.end_to_end_ms.median), sig3(row.gb_per_s), sig3(row.tflop_per_s),
      row.throughput_time === "device" ? "device" : "e2e", row.rel_err.toExponential(2)].map((v) => `<td>${v}</td>`).join("");
  }
  $("results").tBodies[0].appendChild(tr);
}

async function runBench(small) {
  const names = JSON.parse(Page.workloads()).filter((w) => w.small === small).map((w) => w.name);
  for (const name of names) {
    status(`benchmark: ${name}…`, "running");
    addRow(JSON.parse(await page.bench(name)));
  }
}

// The browser's own words for its adapter, which wgpu does not pass on.
async function browserLabel() {
  const adapter = await navigator.gpu?.requestAdapter();
  const info = adapter?.info;
  if (!info) return "";
  return [info.vendor, info.architecture, info.device, info.description].filter(Boolean).join(" ");
}

async function open() {
  const want = $("device-kind").value;
  if (want === "gpu" && !navigator.gpu) {
    status("This browser has no WebGPU (navigator.gpu is missing): choose the CPU path, or a browser with WebGPU.", "error");
    return false;
  }
  status("opening the device…", "loading");
  page = await Page.open(want, $("limits").value, await browserLabel());
  info = JSON.parse(page.info());
  $("results").tBodies[0].innerHTML = "";
  showAdapter();
  return true;
}

async function start() {
  await exclusive(async () => {
    if (!(await open())) return;
    await complete();
    await runBench(true);
    status(`done on ${info.name}`, "done");
  });
}

await init();
for (const id of ["beta", "flip", "seed"]) {
  $(id).addEventListener("input", recomplete);
}
$("reopen").addEventListener("click", start);
$("run-small").addEventListener("click", () => exclusive(async () => { await runBench(true); status(`done on ${info.name}`, "done"); }));
$("run-full").addEventListener("click", () => exclusive(async () => { await runBench(false); status(`done on ${info.name}`, "done"); }));
$("download").addEventListener("click", () => {
  const blob = new Blob([page.report()], { type: "application/json" });
  const a = document.createElement("a");
  a.href = URL.createObjectURL(blob);
  a.download = "hopfield-bench.json";
  a.click();
  URL.revokeObjectURL(a.href);
});
const params = new URLSearchParams(location.search);
if (params.get("limits")) $("limits").value = params.get("limits");
if (params.get("device")) $("device-kind").value = params.get("device");
start();
