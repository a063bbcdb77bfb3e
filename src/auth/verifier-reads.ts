import { Kind, type DocumentNode, type FragmentDefinitionNode, type OperationDefinitionNode, type SelectionSetNode } from 'graphql';

/** A tree of the fields a principal may select: a field maps to the fields it may select below it, or to true for a leaf. */
interface Readable { readonly [field: string]: Readable | true }

const ID_ONLY: Readable = { id: true };

/**
 * What a verification may show a principal that only verifies keys (role verifier, with or
 * without an account): the verified key's own fields, and the IDs of its instance, channel,
 * developer and teams. Not its history or usage, nor anything of the account beyond the key
 * (names of developers and teams, other keys, the catalog).
 */
const VERIFIED_KEY: Readable = {
  id: true, name: true, hint: true, cloud: true, status: true, expiresAt: true, createdAt: true, updatedAt: true,
  renewedAt: true, revokedAt: true, revocationReason: true, lastUsedAt: true, version: true,
  instance: ID_ONLY, channel: ID_ONLY, developer: ID_ONLY, teams: ID_ONLY,
};

const VERIFIER_READABLE: Record<OperationDefinitionNode['operation'], Readable> = {
  mutation: { verifyApiKey: { valid: true, code: true, apiKey: VERIFIED_KEY } },
  // the schema itself (when introspection is on) and nothing of the account's data
  query: { __schema: true, __type: true },
  subscription: {},
};

/**
 * The path of the first field of `operation` that a verifier may not read, or null when it
 * reads only what {@link VERIFIED_KEY} allows. `__typename` is always allowed; fragments are
 * followed (each named fragment once per path).
 */
export function forbiddenForVerifier(document: DocumentNode, operation: OperationDefinitionNode): string | null {
  const fragments = new Map(document.definitions
    .filter((d): d is FragmentDefinitionNode => d.kind === Kind.FRAGMENT_DEFINITION)
    .map((d) => [d.name.value, d]));

  const check = (selectionSet: SelectionSetNode, allowed: Readable, path: string, seen: ReadonlySet<string>): string | null => {
    for (const selection of selectionSet.selections) {
      if (selection.kind === Kind.FIELD) {
        const name = selection.name.value;
        if (name === '__typename') continue;
        const here = path ? `${path}.${name}` : name;
        const below = Object.hasOwn(allowed, name) ? allowed[name] : undefined;
        if (below === undefined) return here;
        if (below !== true && selection.selectionSet) {
          const found = check(selection.selectionSet, below, here, seen);
          if (found) return found;
        }
      } else if (selection.kind === Kind.INLINE_FRAGMENT) {
        const found = check(selection.selectionSet, allowed, path, seen);
        if (found) return found;
      } else {
        const fragment = fragments.get(selection.name.value);
        // an unknown fragment fails validation; a fragment spread twice on one path is a cycle, which validation refuses too
        if (!fragment || seen.has(fragment.name.value)) continue;
        const found = check(fragment.selectionSet, allowed, path, new Set([...seen, fragment.name.value]));
        if (found) return found;
      }
    }
    return null;
  };
  return check(operation.selectionSet, VERIFIER_READABLE[operation.operation], '', new Set());
}
