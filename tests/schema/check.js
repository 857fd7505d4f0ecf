#!/usr/bin/env node
// check.js: the Railway schema contract test (ctest schema.railway). Neither the client nor the
// fake may drift from Railway's published API:
//  (a) every GraphQL document the client can send (rw_schema_driver --print-documents) must
//      parse and validate against the schema (graphql-js buildClientSchema + validate), and its
//      example variables must coerce to the declared variable types;
//  (b) every answer the fake gave to the client's real calls (rw_schema_driver --record) must
//      have the schema's shape. For a data answer we run graphql-js `execute` on the query the
//      client sent, with the recorded variables and the recorded `data` as the root value: the
//      default resolvers read the fields back, so execution enforces nullability, list shapes
//      and enum values (an unknown DeploymentStatus fails), and comparing execute's output with
//      the recorded data (deep equality) catches what serialisation would otherwise coerce
//      silently (1 for a Boolean, extra or missing fields). Error answers must be
//      {"errors":[{"message":String,...}],"data":null}.
//  A self-check first proves the checks can fail (a rollback with a sub-selection, an answer
//  with a non-Boolean canRollback). The schema comes from $RAILWAY_SCHEMA or
//  <repo>/../shared/reference/railway-schema.json; with neither, it exits 77 (skipped) saying so.
// Usage: node tests/schema/check.js PATH/TO/rw_schema_driver
'use strict';
const fs = require('fs');
const path = require('path');
const { execFileSync, spawnSync } = require('child_process');

const SKIP = 77;
const here = __dirname;
const repo = path.resolve(here, '..', '..');

function skip(why) {
  console.log(`schema.railway: skipped: ${why}`);
  process.exit(SKIP);
}

function schemaPath() {
  const env = process.env.RAILWAY_SCHEMA;
  if (env) {
    if (!fs.existsSync(env)) skip(`RAILWAY_SCHEMA=${env} does not exist`);
    return env;
  }
  const p = path.resolve(repo, '..', 'shared', 'reference', 'railway-schema.json');
  if (!fs.existsSync(p)) skip(`no schema: set RAILWAY_SCHEMA or provide ${p}`);
  return p;
}

// graphql@16 from tests/schema/node_modules, installed from the npm registry when missing.
function loadGraphql() {
  const mod = path.join(here, 'node_modules', 'graphql');
  if (!fs.existsSync(path.join(mod, 'package.json'))) {
    const r = spawnSync('npm', ['install', '--no-audit', '--no-fund', '--loglevel=error'], {
      cwd: here, stdio: ['ignore', 'inherit', 'inherit'], timeout: 240000,
    });
    if (r.error || r.status !== 0) skip(`npm install of graphql@16 failed (${r.error ? r.error.message : 'exit ' + r.status})`);
  }
  const g = require(mod);
  if (!/^16\./.test(g.version)) throw new Error(`graphql ${g.version} installed, 16.x required`);
  return g;
}

const failures = [];
function fail(msg) {
  failures.push(msg);
}

function validDocument(g, schema, text) {
  let doc;
  try {
    doc = g.parse(text);
  } catch (e) {
    return { errors: [e.message] };
  }
  return { doc, errors: g.validate(schema, doc).map((e) => e.message) };
}

// Variable coercion only: execute with no root value; errors about variables come before any
// resolver runs.
function variableErrors(g, schema, doc, variables) {
  const r = g.execute({ schema, document: doc, rootValue: {}, variableValues: variables });
  const errs = (r && r.errors) || [];
  return errs.filter((e) => /^Variable "\$/.test(e.message)).map((e) => e.message);
}

function sameJson(a, b) {
  return JSON.stringify(a) === JSON.stringify(b);
}

// The recorded data, as execute reads it back through the schema. Returns a list of problems.
function answerProblems(g, schema, query, variables, data) {
  const { doc, errors } = validDocument(g, schema, query);
  if (errors.length) return errors.map((e) => `query does not validate: ${e}`);
  const r = g.execute({ schema, document: doc, rootValue: data, variableValues: variables || {} });
  const probs = ((r && r.errors) || []).map((e) => `${e.message} at ${(e.path || []).join('.')}`);
  if (!probs.length && !sameJson(JSON.parse(JSON.stringify(r.data)), data))
    probs.push(`answer differs from its schema reading:\n    sent ${JSON.stringify(data)}\n    read ${JSON.stringify(r.data)}`);
  return probs;
}

function errorShapeProblems(ans, status) {
  const p = [];
  if (status !== 200 && status !== 400) p.push(`error answer with HTTP ${status}`);
  if (!Array.isArray(ans.errors) || ans.errors.length === 0) p.push('errors is not a non-empty list');
  for (const e of ans.errors || []) {
    if (typeof e.message !== 'string') p.push('an error without a String message');
    if ('extensions' in e && (typeof e.extensions !== 'object' || e.extensions === null || Array.isArray(e.extensions)))
      p.push('extensions is not an object');
    if ('path' in e && !Array.isArray(e.path)) p.push('path is not a list');
  }
  if (!('data' in ans) || ans.data !== null) p.push('an error answer must carry "data": null');
  return p;
}

function selfCheck(g, schema) {
  const bad = validDocument(g, schema, 'mutation($id:String!){deploymentRollback(id:$id){id status}}');
  if (!bad.errors.length) fail('self-check: a rollback with a sub-selection validated');
  const q = 'query($id:String!){deployment(id:$id){id status canRollback}}';
  const wrong = { deployment: { id: 'd', status: 'SUCCESS', canRollback: 1 } };
  if (!answerProblems(g, schema, q, { id: 'd' }, wrong).length) fail('self-check: canRollback 1 passed as a Boolean');
  const badEnum = { deployment: { id: 'd', status: 'ACTIVE', canRollback: true } };
  if (!answerProblems(g, schema, q, { id: 'd' }, badEnum).length) fail('self-check: status ACTIVE passed');
}

function main() {
  const driver = process.argv[2];
  if (!driver || !fs.existsSync(driver)) {
    console.error('usage: node check.js PATH/TO/rw_schema_driver');
    process.exit(2);
  }
  const sp = schemaPath();
  const g = loadGraphql();
  const intro = JSON.parse(fs.readFileSync(sp, 'utf8'));
  const schema = g.buildClientSchema(intro.data || intro);
  selfCheck(g, schema);

  // (a) the documents
  const docs = JSON.parse(execFileSync(driver, ['--print-documents'], { encoding: 'utf8' }));
  for (const d of docs) {
    const { doc, errors } = validDocument(g, schema, d.text);
    for (const e of errors) fail(`document ${d.name}: ${e}`);
    if (doc) for (const e of variableErrors(g, schema, doc, d.variables)) fail(`document ${d.name}: ${e}`);
  }

  // (b) the fake's answers to the client's calls
  const rec = spawnSync(driver, ['--record'], { encoding: 'utf8', timeout: 120000, maxBuffer: 64 << 20 });
  if (rec.status !== 0) {
    fail(`rw_schema_driver --record failed (${rec.status}): ${rec.stderr}`);
  } else {
    const log = JSON.parse(rec.stdout);
    const answered = new Set();
    let checked = 0;
    for (const r of log) {
      const ans = r.answer;
      const where = `answer #${r.seq} to ${r.operationName}`;
      if (!r.query || !docs.some((d) => d.text === r.query)) fail(`${where}: the client sent a query not among its documents`);
      if (ans === null || typeof ans !== 'object') {
        fail(`${where}: not a JSON object`);
        continue;
      }
      checked++;
      if ('errors' in ans) {
        for (const p of errorShapeProblems(ans, r.status)) fail(`${where}: ${p}`);
        continue;
      }
      for (const p of answerProblems(g, schema, r.query, r.variables, ans.data)) fail(`${where}: ${p}`);
      answered.add(r.operationName);
    }
    for (const d of docs) if (!answered.has(d.name)) fail(`no recorded data answer to ${d.name}`);
    console.log(`schema.railway: ${docs.length} documents validated, ${checked} recorded answers checked`);
  }

  for (const f of failures) console.log(`FAIL ${f}`);
  console.log(failures.length ? `schema.railway: ${failures.length} problem(s)` : 'schema.railway: ok');
  process.exit(failures.length ? 1 : 0);
}

main();
