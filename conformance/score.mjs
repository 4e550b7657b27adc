// Scores a run of the HTTP cache test suite and guards the baseline.
//
//   node conformance/score.mjs SUITE_DIR RAW_RESULTS.json OUT_DIR [--update]
//
// Writes OUT_DIR/results.json (test id -> true or [error, message], sorted)
// and OUT_DIR/score.md (pass/fail/other by kind, and every failed required or
// optimal test). Then compares with OUT_DIR/passing.txt, the committed list
// of tests that passed before: a test listed there that does not pass now is
// a regression, and the exit status is 1. --update rewrites passing.txt.
//
// Kinds come from the suite's own catalogue (tests/index.mjs plus the
// surrogate-control suite that cli.mjs appends). Browser-only tests are never
// run by the CLI and are left out. A result is "pass" when it is true, "fail"
// when it is an assertion failure, and "other" otherwise (setup failure,
// network error, not run).
import fs from 'node:fs'
import path from 'node:path'
import process from 'node:process'
import { pathToFileURL } from 'node:url'

const [suiteDir, rawFile, outDir, ...flags] = process.argv.slice(2)
if (!suiteDir || !rawFile || !outDir) {
  console.error('usage: node score.mjs SUITE_DIR RAW_RESULTS.json OUT_DIR [--update]')
  process.exit(2)
}
const update = flags.includes('--update')
const load = async file => (await import(pathToFileURL(path.join(suiteDir, 'tests', file)).href)).default

const suites = [...(await load('index.mjs'))]
// The npm package's cli.mjs appends the surrogate-control suite; the current
// git tree has none.
if (fs.existsSync(path.join(suiteDir, 'tests', 'surrogate-control.mjs'))) {
  const surrogate = await load('surrogate-control.mjs')
  if (!suites.some(s => s.id === surrogate.id)) suites.push(surrogate)
}
const catalogue = new Map()
for (const suite of suites) {
  for (const test of suite.tests) {
    if (test.browser_only === true) continue
    catalogue.set(test.id, { kind: test.kind || 'required', suite: suite.id, name: test.name })
  }
}

const raw = JSON.parse(fs.readFileSync(rawFile, 'utf8'))
if (!raw || typeof raw !== 'object' || Array.isArray(raw) || !Object.keys(raw).length) {
  console.error(`score.mjs: ${rawFile} holds no results`)
  process.exit(2)
}
const outcome = value =>
  value === true ? 'pass' : Array.isArray(value) && value[0] === 'Assertion' ? 'fail' : 'other'

const kinds = ['required', 'optimal', 'check']
const rows = Object.fromEntries(kinds.map(k => [k, { pass: 0, fail: 0, other: 0 }]))
const passing = []
const failed = []
for (const [id, test] of catalogue) {
  const o = outcome(raw[id])
  rows[test.kind][o]++
  if (o === 'pass') passing.push(id)
  else if (test.kind !== 'check') failed.push({ id, ...test, outcome: o, detail: raw[id] })
}
passing.sort()

const sorted = Object.fromEntries(Object.keys(raw).sort().map(id => [id, raw[id]]))
fs.writeFileSync(path.join(outDir, 'results.json'), JSON.stringify(sorted, null, 2) + '\n')

const version = JSON.parse(fs.readFileSync(path.join(suiteDir, 'package.json'), 'utf8')).version
const total = k => rows[k].pass + rows[k].fail + rows[k].other
let md = '# HTTP cache test suite: `revalidate edge`\n\n'
const source = process.env.REVALIDATE_HCT_SOURCE || `npm \`http-cache-tests@${version}\``
md += `Suite: ${source} (CLI tests; browser-only tests excluded), run by \`scripts/cache-tests.sh\`\n`
md += 'against `revalidate edge` (memory cache) in front of the suite\'s origin on 127.0.0.1.\n\n'
md += '| kind | pass | fail | other | total |\n|---|---|---|---|---|\n'
for (const k of kinds) md += `| ${k} | ${rows[k].pass} | ${rows[k].fail} | ${rows[k].other} | ${total(k)} |\n`
md += `\nOptimal pass rate: ${(100 * rows.optimal.pass / total('optimal')).toFixed(1)} %.\n`
md += '\n## Required and optimal tests not passing\n\nReasons: `conformance/failing.md`.\n\n'
for (const f of failed.sort((a, b) => a.kind.localeCompare(b.kind) || a.id.localeCompare(b.id))) {
  md += `- ${f.kind} \`${f.id}\` (${f.outcome})\n`
}
fs.writeFileSync(path.join(outDir, 'score.md'), md)

for (const k of kinds) {
  console.log(`${k.padEnd(9)} pass ${String(rows[k].pass).padStart(3)}  fail ${String(rows[k].fail).padStart(3)}  other ${String(rows[k].other).padStart(3)}  of ${total(k)}`)
}

// Every failed required/optimal test must have its reason written down.
const failingMd = path.join(outDir, 'failing.md')
const explained = fs.existsSync(failingMd) ? fs.readFileSync(failingMd, 'utf8') : ''
const unexplained = failed.filter(f => !explained.includes(`\`${f.id}\``))
for (const f of unexplained) console.log(`not explained in failing.md: ${f.kind} ${f.id} ${JSON.stringify(f.detail)}`)

const baselineFile = path.join(outDir, 'passing.txt')
if (update) {
  fs.writeFileSync(baselineFile, passing.join('\n') + '\n')
  console.log(`score.mjs: baseline rewritten: ${passing.length} passing tests in ${baselineFile}`)
  process.exit(0)
}
if (!fs.existsSync(baselineFile)) {
  console.error(`score.mjs: no baseline ${baselineFile}; run with --update to create it`)
  process.exit(1)
}
const baseline = fs.readFileSync(baselineFile, 'utf8').split('\n').map(l => l.trim()).filter(Boolean)
const now = new Set(passing)
const regressions = baseline.filter(id => !now.has(id))
const gained = passing.filter(id => !baseline.includes(id))
if (gained.length) console.log(`score.mjs: ${gained.length} tests pass that the baseline lacks (run with --update): ${gained.join(' ')}`)
if (regressions.length) {
  console.error(`score.mjs: ${regressions.length} regressions (passed in the baseline, not now):`)
  for (const id of regressions) console.error(`  ${id}: ${JSON.stringify(raw[id])}`)
  process.exit(1)
}
console.log(`score.mjs: no regressions against ${baseline.length} baseline tests`)
