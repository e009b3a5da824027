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
