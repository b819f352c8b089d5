// Preloaded before the server (node --require): Debian bookworm's Node.js 18 runs the system's undici 5.15
// (package node-undici) as its fetch, and that Headers lacks getSetCookie() (undici 5.19, upstream Node
// 18.14). Next.js 15 binds it in headers(), so without it every page that reads its request fails with
// "Cannot read properties of undefined (reading 'bind')". Added only where it is missing, as the Fetch
// standard defines it: the Set-Cookie values, which this undici keeps joined with ", ".
"use strict";

// A comma starts another cookie only where a `name=` follows; the commas inside Expires dates do not.
const NEXT_COOKIE = /,\s*(?=[^=;,\s]+=)/;

if (typeof Headers === "function" && typeof Headers.prototype.getSetCookie !== "function") {
  Object.defineProperty(Headers.prototype, "getSetCookie", {
    value: function getSetCookie() {
      const joined = this.get("set-cookie");
      return joined === null ? [] : joined.split(NEXT_COOKIE);
    },
    writable: true,
    enumerable: true,
    configurable: true,
  });
}
