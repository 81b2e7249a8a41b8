/**
 * The deviation plan kinds a request may name, default first, in the order messages and menus list
 * them. The one definition of the names: the engine's plan types and request schema, the record's
 * labels, the CLI and the compose form derive theirs from it. Dependency-free, so client components
 * and the CLI's flag parsing can import it without pulling in the engine (and onnxruntime).
 */
export const PLAN_KINDS = ["geodesic", "interpolate", "shell"] as const;
export type PlanKind = (typeof PLAN_KINDS)[number];

/** The kind a request gets when it names none. */
export const DEFAULT_PLAN_KIND = PLAN_KINDS[0];

/**
 * A plan union, checked against PLAN_KINDS: T itself when its members' `kind`s are exactly the
 * PLAN_KINDS, `never` when one is missing (so every use of the union fails to compile), and a
 * constraint error when a member names a kind that is not one. Wrap each hand-written plan union in it.
 */
export type PlanUnion<T extends { readonly kind: PlanKind }> = PlanKind extends T["kind"] ? T : never;

/** Any plan with its levels spelled out: a normalized request's, a grid plan, a stored run's. */
export type LeveledPlan = PlanUnion<
  | { readonly kind: "geodesic"; readonly fractions: readonly number[] }
  | { readonly kind: "interpolate"; readonly lambdas: readonly number[] }
  | { readonly kind: "shell"; readonly quantiles: readonly number[] }
>;

/** A plan's levels, one per row: angle fractions, λ or likelihood quantiles. */
export function planLevels(plan: LeveledPlan): readonly number[] {
  return plan.kind === "geodesic" ? plan.fractions : plan.kind === "interpolate" ? plan.lambdas : plan.quantiles;
}
