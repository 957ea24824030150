/**
 * The page: loads /config.json, then shows sign-in or the classifier. A missing or broken
 * config gets its own explanatory page instead of a blank screen.
 */
import { useEffect, useMemo, useState, useSyncExternalStore } from "react";
import { ApiClient } from "../api/client";
import { CognitoClient } from "../auth/cognito";
import { AuthStore } from "../auth/store";
import { loadConfig, type AppConfig } from "../config";
import { Classifier } from "./Classifier";
import { ConfigErrorPage } from "./ConfigErrorPage";
import { Notice } from "./Notice";
import { SignIn } from "./SignIn";

type Loaded = { status: "loading" } | { status: "failed"; reason: string } | { status: "ready"; config: AppConfig };

export function App() {
  const [loaded, setLoaded] = useState<Loaded>({ status: "loading" });

  useEffect(() => {
    let live = true;
    loadConfig()
      .then((config) => live && setLoaded({ status: "ready", config }))
      .catch((error: unknown) => live && setLoaded({ status: "failed", reason: String((error as Error).message ?? error) }));
    return () => {
      live = false;
    };
  }, []);

  if (loaded.status === "loading") {
    return (
      <Layout>
        <p role="status" className="loading">
          Loading…
        </p>
      </Layout>
    );
  }
  if (loaded.status === "failed") {
    return (
      <Layout>
        <ConfigErrorPage reason={loaded.reason} />
      </Layout>
    );
  }
  return <ConfiguredApp config={loaded.config} />;
}

function ConfiguredApp({ config }: { config: AppConfig }) {
  const store = useMemo(() => {
    // The cloud's app client allows SRP only; the local stack's emulator keeps the plain
    // password flow (scripts and tests sign in with it), see docs/web.md.
    const cognito = new CognitoClient(config.cognitoEndpoint, config.userPoolClientId, {
      userPoolId: config.userPoolId,
      authFlow: config.mode === "local" ? "USER_PASSWORD_AUTH" : "USER_SRP_AUTH",
    });
    return new AuthStore(cognito, config.userPoolClientId);
  }, [config]);
  const api = useMemo(() => new ApiClient(config.apiUrl), [config]);
  const auth = useSyncExternalStore(store.subscribe, store.getState);

  const account =
    auth.status === "signedIn" ? (
      <div className="account">
        <span className="account-name">Signed in as {auth.session.displayName}</span>
        <button type="button" className="secondary" onClick={() => store.signOut()}>
          Sign out
        </button>
      </div>
    ) : null;

  return (
    <Layout account={account} mode={config.mode}>
      {auth.status === "signedIn" ? <Classifier api={api} store={store} /> : <SignIn store={store} state={auth} />}
    </Layout>
  );
}

function Layout({ children, account, mode }: { children: React.ReactNode; account?: React.ReactNode; mode?: string }) {
  return (
    <div className="page">
      <header className="site-header">
        <h1>
          Skin lesion classifier
          {mode === "local" ? <span className="badge">local stack</span> : null}
        </h1>
        {account}
      </header>
      <Notice />
      <main>{children}</main>
    </div>
  );
}
