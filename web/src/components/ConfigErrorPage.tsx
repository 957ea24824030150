/** Shown when /config.json is missing or wrong: what happened and how to fix it. */
export function ConfigErrorPage({ reason }: { reason: string }) {
  return (
    <section className="card" aria-labelledby="config-error-heading">
      <h2 id="config-error-heading">This site is not configured</h2>
      <div role="alert" className="alert">
        <p>The page could not read its settings: {reason}</p>
      </div>
      <p>
        The deployment writes <code>config.json</code> next to <code>index.html</code>: <code>cdk deploy</code> for a
        stack on AWS, <code>skinlesion up</code> for the local stack. If you serve the build yourself, add a{" "}
        <code>config.json</code> with <code>apiUrl</code>, <code>region</code>, <code>userPoolId</code>,{" "}
        <code>userPoolClientId</code> and <code>mode</code> (see <code>docs/web.md</code>).
      </p>
    </section>
  );
}
