// Serves web/ on 127.0.0.1, opens the page in headless Chromium with WebGPU, and checks what
// it reports: the adapter, glyph completion, and benchmark rows within the stated error, then
// the downloaded JSON. Saves a screenshot per run under OUT (default target/web-test).
//
//   node web/test/page.mjs [--limits adapter|webgpu] [--device gpu|cpu]
//
// Exit status 1 on any failure, with the reason; a browser without a WebGPU adapter is one.
import { chromium } from "playwright-core";
import { createServer } from "node:http";
import { mkdirSync, readFileSync, writeFileSync, existsSync } from "node:fs";
import { dirname, extname, join, normalize } from "node:path";
import { fileURLToPath } from "node:url";

const WEB = join(dirname(fileURLToPath(import.meta.url)), "..");
const OUT = process.env.OUT ?? join(WEB, "..", "target", "web-test");
const TOLERANCE = 1e-5; // ‖gpu − ref‖/‖ref‖ for f32 against the f64 reference
const arg = (name, fallback) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : fallback;
};
const limits = arg("limits", "adapter");
const device = arg("device", "gpu");

const TYPES = { ".html": "text/html", ".js": "text/javascript", ".css": "text/css", ".wasm": "application/wasm", ".json": "application/json" };

function serve() {
  const server = createServer((req, res) => {
    const path = normalize(decodeURIComponent(new URL(req.url, "http://x").pathname)).replace(/^\/+/, "");
    const file = join(WEB, path || "index.html");
    if (!file.startsWith(WEB) || !existsSync(file)) {
      res.writeHead(404).end("not found");
      return;
    }
    res.writeHead(200, { "content-type": TYPES[extname(file)] ?? "application/octet-stream" });
    res.end(readFileSync(file));
  });
  return new Promise((resolve) => server.listen(0, "127.0.0.1", () => resolve(server)));
}

function fail(why) {
  console.error(`FAIL (${device}, limits ${limits}): ${why}`);
  process.exitCode = 1;
}

if (!existsSync(join(WEB, "pkg", "hopfield_web.js"))) {
  fail("web/pkg is missing: build it with scripts/build-web.sh");
  process.exit(1);
}
const server = await serve();
const url = `http://127.0.0.1:${server.address().port}/index.html?limits=${limits}&device=${device}`;
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
  headless: true,
  // Chromium's own network traffic is refused on a closed machine; WebGPU is behind a flag on
  // Linux, where headless Chromium gives it a SwiftShader adapter.
  args: ["--enable-unsafe-webgpu", "--no-sandbox", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"],
});
const started = Date.now();
try {
  const context = await browser.newContext({ acceptDownloads: true, viewport: { width: 1000, height: 900 } });
  const page = await context.newPage();
  const logs = [];
  page.on("console", (m) => logs.push(`${m.type()}: ${m.text()}`));
  page.on("pageerror", (e) => logs.push(`pageerror: ${e.message}`));
  await page.goto(url);
  await page.waitForSelector('#status[data-state="done"], #status[data-state="error"]', { timeout: 400_000 });
  const state = await page.$eval("#status", (e) => [e.dataset.state, e.textContent]);
  mkdirSync(OUT, { recursive: true });
  const shot = join(OUT, `page-${device}-${limits}.png`);
  await page.screenshot({ path: shot, fullPage: true });
  console.log(`screenshot: ${shot}`);
  if (state[0] !== "done") {
    fail(`the page says: ${state[1]}\n${logs.join("\n")}`);
  } else {
    const adapter = await page.$eval("#adapter", (e) => e.innerText);
    console.log(adapter);
    if (!/adapter\s+\S/.test(adapter)) fail("no adapter reported");
    if (device === "gpu" && /HostCpu/.test(adapter)) fail("the GPU run reports the CPU path");
    const wantKiB = limits === "webgpu" ? "16 KiB workgroup memory" : null;
    if (wantKiB && !adapter.includes(wantKiB)) fail(`limits webgpu but the device reports: ${adapter}`);
    const note = await page.$eval("#glyph-note", (e) => e.textContent);
    console.log(note);
    if (!/^\d+ of \d+ glyphs/.test(note)) fail(`no glyph completion: ${note}`);
    const rows = await page.$$eval("#results tbody tr", (trs) => trs.map((t) => ({
      name: t.dataset.workload, status: t.dataset.status, relErr: Number(t.dataset.relErr), text: t.innerText,
    })));
    for (const r of rows) console.log(r.text.replace(/\s+/g, " "));
    const ok = rows.filter((r) => r.status === "ok");
    if (ok.length === 0) fail("no benchmark row ran");
    for (const r of ok) {
      if (!(r.relErr <= TOLERANCE)) fail(`${r.name}: relative error ${r.relErr} over ${TOLERANCE}`);
    }
    const [download] = await Promise.all([page.waitForEvent("download"), page.click("#download")]);
    const report = JSON.parse(readFileSync(await download.path(), "utf8"));
    writeFileSync(join(OUT, `report-${device}-${limits}.json`), JSON.stringify(report, null, 2));
    if (report.tool !== "hopfield web page" || report.workloads.length !== rows.length) {
      fail(`the downloaded report does not match the table: ${JSON.stringify(report).slice(0, 300)}`);
    }
    if (!report.adapter?.name) fail("the downloaded report names no adapter");
  }
} catch (e) {
  fail(e.stack ?? e);
} finally {
  await browser.close();
  server.close();
  console.log(`${device}, limits ${limits}: ${((Date.now() - started) / 1000).toFixed(1)} s`);
}
