import type { FieldNode, FragmentDefinitionNode, GraphQLResolveInfo, SelectionSetNode } from 'graphql';

/** The fields of a selection set, looking through fragments. */
export function fieldsOf(set: SelectionSetNode | undefined, fragments: Record<string, FragmentDefinitionNode>): FieldNode[] {
  if (!set) return [];
  return set.selections.flatMap((s) => {
    if (s.kind === 'Field') return [s];
    if (s.kind === 'InlineFragment') return fieldsOf(s.selectionSet, fragments);
    return fieldsOf(fragments[s.name.value]?.selectionSet, fragments);
  });
}

/** Whether a field named `name` is asked for anywhere under the resolved field (the request's depth limit bounds the walk). */
export function asksAnywhere(info: Pick<GraphQLResolveInfo, 'fieldNodes' | 'fragments'>, name: string): boolean {
  const walk = (fields: FieldNode[]): boolean => fields.some((f) => f.name.value === name || walk(fieldsOf(f.selectionSet, info.fragments)));
  return walk(info.fieldNodes.flatMap((f) => fieldsOf(f.selectionSet, info.fragments)));
}
