// Navigation and permissions, shared by the shell and the pages.

/** Goes to a hash route. */
export function go(path) {
  location.hash = `#${path}`;
}

/** Whether grants (`resource:action[:own]`, `*` wildcards) allow `needed` (`resource:action`):
 * what the console offers; the API decides on every request. */
export function allows(grants, needed) {
  const [resource, action] = needed.split(':');
  return (grants || []).some((grant) => {
    const [r, a] = grant.split(':');
    return grant === '*' || ((r === '*' || r === resource) && (a === '*' || a === action));
  });
}

/** Whether holding `held` implies holding `wanted` (`resource:action[:own]`, `*` wildcards; a
 * grant limited to `:own` covers only `:own` grants): the core's grant rule, for what the
 * console offers. */
export function covers(held, wanted) {
  const parts = (g) => (g === '*' ? ['*', '*', false] : [...g.split(':').slice(0, 2), g.split(':')[2] === 'own']);
  const [hr, ha, hown] = parts(held);
  const [r, a, own] = parts(wanted);
  return (hr === '*' || hr === r) && (ha === '*' || ha === a) && (!hown || own);
}
