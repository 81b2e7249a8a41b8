/**
 * The scheduler types a preset or a request may name, in the order messages and menus list them.
 * The one definition of the names: the preset and request schemas, the CLI and the compose form
 * derive theirs from it. Dependency-free, so client components can import it without pulling in
 * the engine.
 */
export const SCHEDULER_TYPES = ["pndm", "ddim", "dpmpp2m"] as const;
