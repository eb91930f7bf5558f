// Stand-in for cbor-extract, the optional native accelerator of cbor-x, which the wampy test peer
// pulls in. The real package lists prebuilt @cbor-extract/* platform packages that the npm
// registry this project's machines reach does not serve, and `npm ci` then refuses the lock file.
// cbor-x loads cbor-extract inside a try/catch and uses its JavaScript decoder when it fails, so
// failing here is the whole job of this file.
throw new Error('cbor-extract is not installed here: cbor-x uses its JavaScript decoder');
