/* SPDX-License-Identifier: MIT */
/* Unit tests of reload-plan.c: which socket each new listener takes over, and services matched by name. */
#include <string.h>

#include <criterion/criterion.h>

#include "addr.h"
#include "reload-plan.h"

static struct listen_addr addr(const char *text)
{
        struct listen_addr a;
        const char *why = NULL;

        cr_assert_eq(addr_parse(text, &a, &why), 0, "addr_parse(%s): %s", text, why ? why : "?");
        return a;
}

static const struct socket_options defaults = { .socket_mode = 0666 };

static struct listen_identity id(const struct listen_addr *a, int type, const struct socket_options *o)
{
        return (struct listen_identity){ .addr = a, .socket_type = type, .options = o };
}

Test(reload_plan, unchanged_listeners_keep_their_sockets)
{
        struct listen_addr a = addr("127.0.0.1:7"), b = addr("[::1]:7"), a2 = addr("127.0.0.1:7"), b2 = addr("[::1]:7");
        struct listen_identity old[] = { id(&a, SOCK_STREAM, &defaults), id(&b, SOCK_STREAM, &defaults) };
        struct listen_identity new[] = { id(&b2, SOCK_STREAM, &defaults), id(&a2, SOCK_STREAM, &defaults) };
        ssize_t take[2];

        cr_assert_eq(reload_plan_listeners(old, 2, new, 2, take), 0);
        cr_assert_eq(take[0], 1, "[::1]:7 takes the old [::1]:7");
        cr_assert_eq(take[1], 0, "127.0.0.1:7 takes the old 127.0.0.1:7");
}

Test(reload_plan, swapped_ports_each_take_their_own)
{
        /* Service x had port 10, y port 11; now x has 11 and y 10: sockets follow the address, not the service. */
        struct listen_addr p10 = addr("127.0.0.1:10"), p11 = addr("127.0.0.1:11");
        struct listen_addr n11 = addr("127.0.0.1:11"), n10 = addr("127.0.0.1:10");
        struct listen_identity old[] = { id(&p10, SOCK_STREAM, &defaults), id(&p11, SOCK_STREAM, &defaults) };
        struct listen_identity new[] = { id(&n11, SOCK_STREAM, &defaults), id(&n10, SOCK_STREAM, &defaults) };
        ssize_t take[2];

        cr_assert_eq(reload_plan_listeners(old, 2, new, 2, take), 0);
        cr_assert_eq(take[0], 1);
        cr_assert_eq(take[1], 0);
}

Test(reload_plan, changed_socket_options_or_type_open_anew)
{
        struct socket_options bigger = defaults;
        struct listen_addr a = addr("127.0.0.1:7"), a2 = addr("127.0.0.1:7"), a3 = addr("127.0.0.1:7");
        struct listen_identity old[] = { id(&a, SOCK_STREAM, &defaults) };
        struct listen_identity by_options[] = { id(&a2, SOCK_STREAM, &bigger) };
        struct listen_identity by_type[] = { id(&a3, SOCK_DGRAM, &defaults) };
        ssize_t take[1];

        bigger.backlog = 4096;
        cr_assert_eq(reload_plan_listeners(old, 1, by_options, 1, take), 0);
        cr_assert_eq(take[0], -1, "a changed backlog needs a new socket");
        cr_assert_eq(reload_plan_listeners(old, 1, by_type, 1, take), 0);
        cr_assert_eq(take[0], -1, "UDP on the port of a TCP listener is another socket");
}

Test(reload_plan, adopted_socket_is_kept_whatever_its_options)
{
        struct socket_options other = defaults;
        struct listen_addr a = addr("127.0.0.1:7"), a2 = addr("127.0.0.1:7");
        struct listen_identity old[] = { id(&a, SOCK_STREAM, &defaults) };
        struct listen_identity new[] = { id(&a2, SOCK_STREAM, &other) };
        ssize_t take[1];

        other.keepalive = true;
        old[0].adopted = true;
        cr_assert_eq(reload_plan_listeners(old, 1, new, 1, take), 0);
        cr_assert_eq(take[0], 0, "the service manager's socket is not superd's to reopen");
        old[0].adopted = false;
        cr_assert_eq(reload_plan_listeners(old, 1, new, 1, take), 0);
        cr_assert_eq(take[0], -1);
}

Test(reload_plan, widened_address_is_a_new_socket_and_the_old_one_closes)
{
        struct listen_addr narrow = addr("127.0.0.1:80"), wide = addr("*:80");
        struct listen_identity old[] = { id(&narrow, SOCK_STREAM, &defaults) };
        struct listen_identity new[] = { id(&wide, SOCK_STREAM, &defaults) };
        ssize_t take[1];

        cr_assert_eq(reload_plan_listeners(old, 1, new, 1, take), 0);
        cr_assert_eq(take[0], -1, "*:80 is not 127.0.0.1:80: the old socket closes first, then *:80 binds");
}

Test(reload_plan, builtin_and_exec_do_not_share_sockets)
{
        struct listen_addr a = addr("127.0.0.1:7"), a2 = addr("127.0.0.1:7");
        struct listen_identity old[] = { id(&a, SOCK_STREAM, &defaults) };
        struct listen_identity new[] = { id(&a2, SOCK_STREAM, &defaults) };
        ssize_t take[1];

        old[0].builtin = true;
        cr_assert_eq(reload_plan_listeners(old, 1, new, 1, take), 0);
        cr_assert_eq(take[0], -1, "a builtin's small buffers must not pass to an exec'd service");
}

Test(reload_plan, each_old_socket_goes_to_one_listener_and_empty_sets)
{
        struct listen_addr a = addr("127.0.0.1:7"), b = addr("127.0.0.1:7"), c = addr("127.0.0.1:7");
        struct listen_identity old[] = { id(&a, SOCK_STREAM, &defaults) };
        struct listen_identity new[] = { id(&b, SOCK_STREAM, &defaults), id(&c, SOCK_STREAM, &defaults) };
        ssize_t take[2];

        cr_assert_eq(reload_plan_listeners(old, 1, new, 2, take), 0);
        cr_assert_eq(take[0], 0);
        cr_assert_eq(take[1], -1, "the socket was taken already");
        cr_assert_eq(reload_plan_listeners(old, 1, new, 0, take), 0, "everything closes");
        cr_assert_eq(reload_plan_listeners(NULL, 0, new, 2, take), 0);
        cr_assert(take[0] == -1 && take[1] == -1, "nothing to take over at first");
}

Test(reload_plan, listener_moving_to_another_service_keeps_its_socket)
{
        /* Old: a = {7, 8}; new: a = {8}, b = {7}. The plan only sees addresses, in set order. */
        struct listen_addr o7 = addr("127.0.0.1:7"), o8 = addr("127.0.0.1:8"), n8 = addr("127.0.0.1:8"),
                           n7 = addr("127.0.0.1:7");
        struct listen_identity old[] = { id(&o7, SOCK_STREAM, &defaults), id(&o8, SOCK_STREAM, &defaults) };
        struct listen_identity new[] = { id(&n8, SOCK_STREAM, &defaults), id(&n7, SOCK_STREAM, &defaults) };
        ssize_t take[2];

        cr_assert_eq(reload_plan_listeners(old, 2, new, 2, take), 0);
        cr_assert(take[0] == 1 && take[1] == 0);
}

Test(reload_plan, names_match_many_to_one)
{
        const char *old[] = { "echo", "tftp", "ssh" };
        const char *handlers[] = { "ssh", "gone", "ssh", "echo" };
        ssize_t match[4];

        cr_assert_eq(reload_plan_names(old, 3, handlers, 4, match), 0);
        cr_assert_eq(match[0], 2);
        cr_assert_eq(match[1], -1, "a service that is gone has no successor");
        cr_assert_eq(match[2], 2, "every handler of ssh moves to the new ssh");
        cr_assert_eq(match[3], 0);
}

/*
 * A unix address holds a pointer to its text (addr.h): the old and the new
 * configuration each have their own copy, and the entries still match by
 * path or name, never by pointer.
 */
Test(reload_plan, unix_listeners_match_by_path_not_by_pointer)
{
        char old_file[] = "unix:/run/x.sock", old_name[] = "unix:@x";
        char new_name[] = "unix:@x", new_file[] = "unix:/run/x.sock";
        struct listen_addr of = addr(old_file), on = addr(old_name), nn = addr(new_name), nf = addr(new_file),
                           other = addr("unix:/run/y.sock"), at_file = addr("unix:@/run/x.sock");
        struct listen_identity old[] = { id(&of, SOCK_STREAM, &defaults), id(&on, SOCK_STREAM, &defaults) };
        struct listen_identity new[] = { id(&nn, SOCK_STREAM, &defaults), id(&nf, SOCK_STREAM, &defaults),
                                         id(&other, SOCK_STREAM, &defaults), id(&at_file, SOCK_STREAM, &defaults) };
        ssize_t take[4];

        cr_assert_neq(of.un.path, nf.un.path);
        cr_assert_eq(reload_plan_listeners(old, 2, new, 4, take), 0);
        cr_assert_eq(take[0], 1, "unix:@x takes the old unix:@x");
        cr_assert_eq(take[1], 0, "unix:/run/x.sock takes the old one");
        cr_assert_eq(take[2], -1, "another path opens anew");
        cr_assert_eq(take[3], -1, "an abstract name is not the file of the same spelling");
}
