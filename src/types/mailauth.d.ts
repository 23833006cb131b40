// mailauth's internal modules that delivery/dkim.ts uses have no typings of their own;
// dkim.ts states the shapes it relies on where it imports them. Static imports (not a
// createRequire) so the single-executable bundle carries them too.
declare module 'mailauth/lib/dkim/dkim-signer.js' { const m: unknown; export default m; }
declare module 'mailauth/lib/tools.js' { const m: unknown; export default m; }
declare module 'mailauth/lib/dkim/header/index.js' { const m: unknown; export default m; }
