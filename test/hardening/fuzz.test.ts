import fc from 'fast-check';
import {
  buildASTSchema, getNamedType, isEnumType, isInputObjectType, isListType, isNonNullType, parse,
  type GraphQLInputType, type GraphQLSchema,
} from 'graphql';
import { loadTypeDefs } from '../../src/schema';
import { seedAccount, type SeededAccount } from '../helpers/factories';
import { startTestServer, type TestServer } from '../helpers/server';

// servers start slowly on a busy machine (embedded databases); each test still bounds its own loops
jest.setTimeout(90_000);

// Random and malformed variables for every mutation: never a 5xx, and a rejected request writes nothing.
const schema: GraphQLSchema = buildASTSchema(parse(loadTypeDefs().join('\n')));
const mutations = Object.values(schema.getMutationType()?.getFields() ?? {});

let server: TestServer;
let acme: SeededAccount;
let ids: string[] = [];

beforeAll(async () => {
  server = await startTestServer();
  acme = await seedAccount(server, 'acme');
  const other = await seedAccount(server, 'globex');
  const key = await acme.createKey({ name: 'fuzz target', newTeamNames: ['Fuzz team'] });
  const foreign = await other.createKey({ name: 'foreign key' });
  const teams = await server.ok<{ teams: { edges: { node: { id: string } }[] } }>(acme.admin, '{ teams { edges { node { id } } } }');
  const devs = await server.ok<{ developers: { edges: { node: { id: string } }[] } }>(acme.admin, '{ developers { edges { node { id } } } }');
  ids = [
    key.id, key.secret, foreign.id, acme.channels.ide.id, acme.channels.ci.id, acme.instances.prod.id, acme.instances.snow.id,
    other.instances.prod.id, ...teams.teams.edges.map((e) => e.node.id), ...devs.developers.edges.map((e) => e.node.id),
  ];
});
afterAll(async () => { await server.stop(); });

// Everything a request could write, except what verification counts asynchronously (usage, last use).
const TABLES = ['channels', 'instances', 'instance_channels', 'teams', 'developers', 'developer_instances', 'api_keys',
  'api_key_secrets', 'api_key_teams', 'api_key_events', 'idempotency_keys'];

async function snapshot(): Promise<string> {
  const parts = TABLES.map((t) =>
    `(select md5(coalesce(string_agg(x, ',' order by x), '')) from (select (to_jsonb(r) - 'last_used_at')::text as x from ${t} r) s) as ${t}`);
  const result = await server.knex.raw(`select ${parts.join(', ')}`);
  return JSON.stringify((result as { rows: unknown[] }).rows[0]);
}

const anyJson = fc.jsonValue({ maxDepth: 2 });
const text = fc.oneof(fc.string({ maxLength: 40 }), fc.string({ unit: 'binary', maxLength: 40 }), fc.constant(''), fc.constant(' '.repeat(3)),
  fc.string({ minLength: 200, maxLength: 400 }));

function valueFor(type: GraphQLInputType, depth = 0): fc.Arbitrary<unknown> {
  if (isNonNullType(type)) return fc.oneof({ weight: 9, arbitrary: valueFor(type.ofType, depth) }, { weight: 1, arbitrary: fc.constant(null) });
  const wrong = { weight: 1, arbitrary: anyJson as fc.Arbitrary<unknown> };
  if (isListType(type)) {
    return fc.oneof({ weight: 6, arbitrary: fc.array(valueFor(type.ofType, depth + 1), { maxLength: 4 }) },
      { weight: 1, arbitrary: fc.constant(null) }, wrong);
  }
  const named = getNamedType(type);
  if (isInputObjectType(named)) {
    if (depth > 3) return fc.constant(null);
    const fields = Object.values(named.getFields());
    const shape: Record<string, fc.Arbitrary<unknown>> = {};
    for (const f of fields) shape[f.name] = valueFor(f.type, depth + 1);
    return fc.oneof({ weight: 8, arbitrary: fc.record(shape, { requiredKeys: fields.filter((f) => isNonNullType(f.type)).map((f) => f.name) }) },
      { weight: 1, arbitrary: fc.record(shape, { requiredKeys: [] }) }, wrong);
  }
  if (isEnumType(named)) return fc.oneof({ weight: 8, arbitrary: fc.constantFrom(...named.getValues().map((v) => v.name)) }, { weight: 1, arbitrary: fc.constant('NOT_A_VALUE') }, wrong);
  switch (named.name) {
    case 'ID': return fc.oneof({ weight: 4, arbitrary: fc.constantFrom(...ids) }, { weight: 3, arbitrary: text }, wrong);
    case 'String': return fc.oneof({ weight: 4, arbitrary: text }, { weight: 2, arbitrary: fc.constantFrom(...ids, 'Fuzz team', 'IDE', 'Alice') }, wrong);
    case 'Int': return fc.oneof(fc.integer(), fc.constantFrom(0, -1, 1, 100, 101, 604_800, 604_801, 2 ** 31, 1.5), wrong);
    case 'Boolean': return fc.oneof({ weight: 6, arbitrary: fc.boolean() }, wrong);
    case 'DateTime': return fc.oneof(
      { weight: 5, arbitrary: fc.date({ min: new Date('1900-01-01'), max: new Date('2200-01-01'), noInvalidDate: true }).map((d) => d.toISOString()) },
      { weight: 2, arbitrary: text }, wrong);
    default: return anyJson;
  }
}

const accountTokens = () => [acme.admin, acme.admin, acme.admin, acme.viewer, acme.verifier];

describe.each(mutations.map((m) => [m.name, m] as const))('%s', (name, field) => {
  test('random variables: no 5xx, and a rejected request writes nothing', async () => {
    const inputArg = field.args.find((a) => a.name === 'input');
    expect(inputArg).toBeDefined();
    let executed = 0;
    const query = `mutation Fuzz($input: ${String(inputArg?.type)}) { ${name}(input: $input) { __typename } }`;
    await fc.assert(
      fc.asyncProperty(
        fc.oneof({ weight: 9, arbitrary: valueFor(inputArg!.type) }, { weight: 1, arbitrary: anyJson }),
        fc.nat({ max: 4 }),
        async (input, who) => {
          const before = await snapshot();
          const res = await server.gql(accountTokens()[who], query, { input });
          expect(res.status).toBeLessThan(500);
          if (res.status === 200) executed++;
          const data = res.data as Record<string, unknown> | null | undefined;
          const rejected = (res.errors?.length ?? 0) > 0 && (data == null || data[name] == null);
          if (rejected) {
            for (const e of res.errors ?? []) expect(e.extensions?.code).not.toBe('INTERNAL_SERVER_ERROR');
            expect(await snapshot()).toBe(before);
          }
        },
      ),
      { numRuns: 30, seed: Number(process.env.FUZZ_SEED ?? 3) },
    );
    // some inputs got past variable coercion into the resolvers
    expect(executed).toBeGreaterThan(0);
  });
});
