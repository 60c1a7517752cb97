// A custom-node frontend extension served under /extensions/<module>/ by the server tests.
export const hello = "serverpack";
