// node-forge's own modules, imported one by one: its index loads all of forge (ciphers, TLS, PKI,
// PKCS#12…), about 360 KB of source the sidecar would keep in its heap for the ASN.1 encoder alone.
// Each module exports its part of the `forge` namespace, typed here by @types/node-forge.
declare module 'node-forge/lib/asn1.js' {
  import type forge from 'node-forge';
  const asn1: typeof forge.asn1;
  export default asn1;
}

declare module 'node-forge/lib/util.js' {
  import type forge from 'node-forge';
  const util: typeof forge.util;
  export default util;
}
