// The built-in envs a PPO worker can build, in a module it loads by URL: a module of this package
// (not a bare specifier), so it resolves the same from a checkout and from JSR.
export { cartpole } from "@proximal/envs";
