// SPDX-License-Identifier: MIT
/*
 * cli: what the kvmbox commands (run, exec, status, stop) share in reading
 * their command lines.
 */
#ifndef KVMBOX_VMM_CLI_H
#define KVMBOX_VMM_CLI_H

#include <stdint.h>

/*
 * cli_parse_u64: s as a whole decimal number in [min, max] into *out; 0,
 * or -EINVAL after one line on stderr: "PROG: OPT S: expected a number
 * from MIN to MAX". No sign, no space, no suffix, no overflow.
 */
__attribute__((warn_unused_result)) int cli_parse_u64(const char *prog, const char *opt,
                                                      const char *s, uint64_t min, uint64_t max,
                                                      uint64_t *out);

#endif
