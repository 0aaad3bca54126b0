// Feeds every DIR/*.wgsl to Tint, the WGSL compiler of Chrome and Dawn, through the `webgpu`
// npm package (Dawn for Node) on its null backend: shader-module creation, compilation
// messages and compute-pipeline creation, on a device with WebGPU's *default* limits, as a
// browser that asks for nothing more hands out. Nothing runs; this is the compiler's and the
// pipeline validator's verdict only.
//
//   node tools/tint-check/check.mjs DIR
//
// One line per program, then exit 0 if every program compiled with no error and no warning,
// else 1 (2 for bad arguments). A warning fails too: Tint warns about what a later Tint or
// another browser may refuse.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { create, globals } from 'webgpu';

Object.assign(globalThis, globals);

// Held for the whole run: once the GPU object is garbage, Dawn tears down the instance under
// the devices still in use and the process crashes.
const gpu = create(['backend=null']);

function usage(why) {
  console.error(`error: ${why}\nusage: node check.mjs DIR`);
  process.exit(2);
}

function parseArgs(argv) {
  let dir = null;
  for (let i = 0; i < argv.length; i++) {
    if (dir === null && !argv[i].startsWith('--')) {
      dir = argv[i];
    } else {
      usage(`unexpected argument ${argv[i]}`);
    }
  }
  if (dir === null) usage('give the folder of .wgsl files');
  return { dir };
}


// WebGPU's default limits: requestDevice without requiredLimits. Subgroups only where a program
// enables them, so every other program is checked on a device without the feature, as most
// browsers' devices are.
// An adapter gives one device, so each device has its own.
async function devices() {
  const adapter = () => gpu.requestAdapter();
  const first = await adapter();
  if (!first) throw new Error("Dawn's null backend offers no adapter");
  const plain = await first.requestDevice();
  const second = await adapter();
  const subgroups = second.features.has('subgroups')
    ? await second.requestDevice({ requiredFeatures: ['subgroups'] })
    : null;
  return { plain, subgroups };
}

function firstLine(message) {
  return message.split('\n')[0];
}

// Every problem Tint or the pipeline validator reports for one program, as
// { text, kind: 'error' | 'warning' | 'info' }.
async function check(device, code) {
  const problems = [];
  const uncaptured = (e) => problems.push({ text: `uncaptured: ${firstLine(e.error.message)}`, kind: 'error' });
  device.addEventListener('uncapturederror', uncaptured);
  device.pushErrorScope('validation');
  device.pushErrorScope('internal');
  const module = device.createShaderModule({ code });
  const info = await module.getCompilationInfo();
  for (const m of info.messages) {
    problems.push({ text: `${m.lineNum}:${m.linePos} ${m.type}: ${m.message}`, kind: m.type });
  }
  device.createComputePipeline({ layout: 'auto', compute: { module, entryPoint: 'main' } });
  const internal = await device.popErrorScope();
  const validation = await device.popErrorScope();
  for (const e of [internal, validation].filter(Boolean)) {
    // A shader-module error also fails the pipeline; its compilation message says it better.
    if (info.messages.some((m) => m.type === 'error')) continue;
    problems.push({
      text: firstLine(e.message),
      kind: 'error',
    });
  }
  device.removeEventListener('uncapturederror', uncaptured);
  return problems;
}

async function main() {
  const { dir } = parseArgs(process.argv.slice(2));
  let files;
  try {
    files = readdirSync(dir).filter((f) => f.endsWith('.wgsl')).sort();
  } catch (e) {
    console.error(`error: ${dir}: ${e.message}`);
    return 1;
  }
  if (files.length === 0) {
    console.error(`error: ${dir} holds no .wgsl file: nothing was checked`);
    return 1;
  }
  const { plain, subgroups } = await devices();
  const limit = plain.limits.maxComputeWorkgroupStorageSize;
  let failed = 0;
  for (const file of files) {
    const code = readFileSync(join(dir, file), 'utf8');
    const wantsSubgroups = /^\s*enable\s+subgroups\s*;/m.test(code);
    let problems;
    if (wantsSubgroups && !subgroups) {
      problems = [{ text: "enables subgroups, which Dawn's null adapter does not offer", kind: 'error' }];
    } else {
      problems = await check(wantsSubgroups ? subgroups : plain, code);
    }
    const fatal = problems.filter((p) => p.kind === 'error' || p.kind === 'warning');
    console.log(`${(fatal.length ? 'FAIL' : 'ok').padEnd(7)} ${file}${wantsSubgroups ? ' (subgroups)' : ''}`);
    for (const p of problems) {
      console.log(`        ${p.text}`);
    }
    if (fatal.length) failed++;
  }
  console.log(
    `${files.length - failed} of ${files.length} programs pass Tint (Dawn null backend, ` +
      `WebGPU default limits: ${limit} bytes of workgroup storage)`,
  );
  plain.destroy();
  subgroups?.destroy();
  return failed ? 1 : 0;
}

// Dawn keeps the event loop alive after its devices are gone; leave explicitly.
main().then(
  (code) => process.exit(code),
  (e) => {
    console.error(`error: ${e.stack || e}`);
    process.exit(1);
  },
);
