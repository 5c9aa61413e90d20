// A certified OpenID Connect provider (panva/node-oidc-provider) for the
// dashboard's sign-in test (tests/browser/sso.rs). It stands for an
// organisation's identity provider: one public client, the dashboard, that
// must use the authorization code flow with PKCE (S256) and no secret; two
// people to sign in as; the provider's own development login page.
//
//   PORT=4444 FERRY_URL=http://127.0.0.1:8080 node server.mjs
//
// Environment:
//   PORT            where to listen (127.0.0.1); the issuer is http://127.0.0.1:PORT
//   FERRY_URL       the Ferry the dashboard is served from: its "/" is the redirect
//                   and post-logout address the client registers
//   CLIENT_ID       the dashboard's client id (default ferry-dashboard)
//   ID_TOKEN_TTL    seconds an ID token lasts (default 3600)
//
// Prints "listening <issuer>" once it accepts connections.

import Provider from 'oidc-provider';

const port = Number(process.env.PORT || 4444);
const ferry = (process.env.FERRY_URL || '').replace(/\/$/, '');
if (!ferry) {
  console.error('FERRY_URL is required: the Ferry whose dashboard signs in here');
  process.exit(2);
}
const clientId = process.env.CLIENT_ID || 'ferry-dashboard';
const idTokenTtl = Number(process.env.ID_TOKEN_TTL || 3600);
const issuer = `http://127.0.0.1:${port}`;

// Login names of the development login page, and their claims.
const ACCOUNTS = {
  rae: { name: 'Rae Okafor', email: 'rae@example.com', ferry_role: 'researcher', ferry_team: 'research' },
  hal: { name: 'Hal Moreno', email: 'hal@example.com', ferry_role: 'hosting' },
};

const provider = new Provider(issuer, {
  clients: [{
    client_id: clientId,
    client_name: 'Ferry dashboard',
    application_type: 'web',
    token_endpoint_auth_method: 'none',
    grant_types: ['authorization_code'],
    response_types: ['code'],
    redirect_uris: [`${ferry}/`],
    post_logout_redirect_uris: [`${ferry}/`],
  }],
  // Public clients must send a PKCE challenge (the provider's default, stated here).
  pkce: { required: () => true },
  scopes: ['openid', 'profile', 'email', 'ferry'],
  claims: {
    openid: ['sub'],
    profile: ['name'],
    email: ['email'],
    ferry: ['ferry_role', 'ferry_team'],
  },
  // Ferry takes the caller from the ID token: put the scopes' claims in it.
  conformIdTokenClaims: false,
  ttl: { IdToken: idTokenTtl },
  features: {
    devInteractions: { enabled: true },
    rpInitiatedLogout: { enabled: true },
  },
  async findAccount(_ctx, id) {
    const account = ACCOUNTS[id];
    if (!account) return undefined;
    return { accountId: id, claims: async () => ({ sub: id, ...account }) };
  },
  // The dashboard is a first-party client: no consent screen.
  async loadExistingGrant(ctx) {
    const grantId = ctx.oidc.result?.consent?.grantId
      || ctx.oidc.session.grantIdFor(ctx.oidc.client.clientId);
    if (grantId) return ctx.oidc.provider.Grant.find(grantId);
    const grant = new ctx.oidc.provider.Grant({
      clientId: ctx.oidc.client.clientId,
      accountId: ctx.oidc.session.accountId,
    });
    grant.addOIDCScope('openid profile email ferry');
    await grant.save();
    return grant;
  },
});

provider.listen(port, '127.0.0.1', () => {
  console.log(`listening ${issuer}`);
});
