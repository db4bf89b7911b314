/* SPDX-License-Identifier: MIT */
/*
 * proto/env: environment lists ("NAME=VALUE" strings) as exec requests,
 * images' Env and -e carry them (docs/protocol.md, exec). The VMM's exec
 * defaults, the CLI's image Env and the agent's default environment all
 * ask the same question: does a list already set this name?
 */
#ifndef KVMBOX_PROTO_ENV_H
#define KVMBOX_PROTO_ENV_H

#include <stdbool.h>
#include <stddef.h>

/*
 * proto_env_sets: whether one of the first n entries of env (fewer when a
 * NULL comes first; env may be NULL) sets the name of kv: the bytes of kv
 * before its first '=' (all of kv when it has none), followed by '='. An
 * entry without '=' sets nothing. Pass SIZE_MAX as n for a NULL-terminated
 * list.
 */
bool proto_env_sets(const char *const *env, size_t n, const char *kv);

#endif
