import type { FieldNode, FragmentDefinitionNode, GraphQLResolveInfo, SelectionSetNode } from 'graphql';

/** The fields of a selection set, looking through fragments. */
function fieldsOf(set: SelectionSetNode | undefined, fragments: Record<string, FragmentDefinitionNode>): FieldNode[] {
  if (!set) return [];
  return set.selections.flatMap((s) => {
    if (s.kind === 'Field') return [s];
    if (s.kind === 'InlineFragment') return fieldsOf(s.selectionSet, fragments);
    return fieldsOf(fragments[s.name.value]?.selectionSet, fragments);
  });
}

/** Which related objects of its keys a listing is asked for. */
export interface KeyRelations { developer: boolean; instance: boolean; channel: boolean; teams: boolean }

/** Reads `edges { node { developer instance channel teams } }` from a connection field's selection. */
export function relationsAsked(info: Pick<GraphQLResolveInfo, 'fieldNodes' | 'fragments'>): KeyRelations {
  const asked = new Set<string>();
  for (const connection of info.fieldNodes) {
    for (const edges of fieldsOf(connection.selectionSet, info.fragments).filter((f) => f.name.value === 'edges')) {
      for (const node of fieldsOf(edges.selectionSet, info.fragments).filter((f) => f.name.value === 'node')) {
        for (const field of fieldsOf(node.selectionSet, info.fragments)) asked.add(field.name.value);
      }
    }
  }
  return { developer: asked.has('developer'), instance: asked.has('instance'), channel: asked.has('channel'), teams: asked.has('teams') };
}
