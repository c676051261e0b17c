// A real OpenID Connect provider for dipstick's tests (tests/test_oidc.py): the npm package
// oidc-provider, with one confidential client registered for the app's callback, PKCE
// required, and the test's accounts read from ACCOUNTS_FILE on every sign-in (so a test can
// move someone to another group between two sign-ins). The login form is oidc-provider's own
// development form: any password is taken, the login names the account. It signs its ID
// tokens with a key made at start-up and prints "ready ISSUER" once it listens. While the file
// FORGE_FILE exists, the ID tokens it hands out are re-signed with another key under the same
// key id: a forgery the app must catch by checking the signature against the provider's JWKS.
import { existsSync, readFileSync } from 'node:fs';

import { decodeJwt, exportJWK, generateKeyPair, SignJWT } from 'jose';
import Provider from 'oidc-provider';

const {
  PORT, CLIENT_ID, CLIENT_SECRET, REDIRECT_URI, ACCOUNTS_FILE, FORGE_FILE,
} = process.env;
const issuer = `http://127.0.0.1:${PORT}`;
const accounts = () => JSON.parse(readFileSync(ACCOUNTS_FILE, 'utf8'));

const { privateKey } = await generateKeyPair('RS256', { extractable: true });
const key = { ...(await exportJWK(privateKey)), alg: 'RS256', use: 'sig', kid: 'test-key' };
const { privateKey: rogue } = await generateKeyPair('RS256');

const provider = new Provider(issuer, {
  clients: [{
    client_id: CLIENT_ID,
    client_secret: CLIENT_SECRET,
    redirect_uris: [REDIRECT_URI],
    grant_types: ['authorization_code'],
    response_types: ['code'],
    token_endpoint_auth_method: 'client_secret_basic',
  }],
  jwks: { keys: [key] },
  cookies: { keys: ['dipstick-test-cookies'] },
  claims: { openid: ['sub'], email: ['email', 'email_verified'], profile: ['name', 'groups'] },
  conformIdTokenClaims: false,       // the scopes' claims go into the ID token
  pkce: { required: () => true },
  features: { devInteractions: { enabled: true } },
  // no consent screen: the organisation's own app is trusted (as a real tenant sets it up)
  async loadExistingGrant(ctx) {
    const grant = new ctx.oidc.provider.Grant({
      clientId: ctx.oidc.client.clientId, accountId: ctx.oidc.session.accountId,
    });
    grant.addOIDCScope('openid email profile');
    await grant.save();
    return grant;
  },
  async findAccount(ctx, id) {
    const found = accounts()[id];
    if (!found) return undefined;
    return { accountId: id, async claims() { return { sub: id, ...found }; } };
  },
});

provider.use(async (ctx, next) => {
  await next();
  if (ctx.path === '/token' && existsSync(FORGE_FILE) && ctx.body?.id_token) {
    const claims = decodeJwt(ctx.body.id_token);
    const forged = await new SignJWT(claims)
      .setProtectedHeader({ alg: 'RS256', kid: 'test-key' }).sign(rogue);
    ctx.body = { ...ctx.body, id_token: forged };
  }
});

provider.listen(Number(PORT), '127.0.0.1', () => {
  console.log(`ready ${issuer}`);
});
