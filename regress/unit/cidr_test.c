/*
 * Address lists: parsing, matching, IPv4-mapped IPv6.
 * DEPS: common/cidr.c
 */

#include <stdio.h>
#include <string.h>

#include "cidr.h"

static int	failed;

static void
check(int cond, const char *what)
{
	printf("%s: %s\n", cond ? "PASS" : "FAIL", what);
	if (!cond)
		failed = 1;
}

static int
m(const char *list, const char *addr)
{
	struct cidr_list	*l;
	const char		*err;
	int			 r;

	if ((l = cidr_list_parse(list, &err)) == NULL)
		return (-1);
	r = cidr_list_match_str(l, addr);
	cidr_list_free(l);
	return (r);
}

static int
bad(const char *list)
{
	struct cidr_list	*l;
	const char		*err = NULL;

	l = cidr_list_parse(list, &err);
	cidr_list_free(l);
	return (l == NULL && err != NULL);
}

int
main(void)
{
	struct cidr_list	*a, *b;
	const char		*err;

	check(m("127.0.0.1", "127.0.0.1") == 1, "exact IPv4 matches");
	check(m("127.0.0.1", "127.0.0.2") == 0, "other IPv4 does not");
	check(m("127.0.0.0/8", "127.9.8.7") == 1, "IPv4 prefix matches");
	check(m("10.0.0.0/8, 192.168.1.0/24", "192.168.1.77") == 1,
	    "second entry of a comma list matches");
	check(m("10.0.0.0/8 192.168.1.0/24", "192.168.2.1") == 0,
	    "space-separated list, outside both prefixes");
	check(m("::1", "::1") == 1, "IPv6 loopback matches");
	check(m("::1", "127.0.0.1") == 0, "IPv6 entry does not match IPv4");
	check(m("2001:db8::/32", "2001:db8:1::5") == 1, "IPv6 prefix matches");
	check(m("2001:db8::/32", "2001:db9::1") == 0, "outside IPv6 prefix");
	check(m("127.0.0.1", "::ffff:127.0.0.1") == 1,
	    "IPv4-mapped client matches the IPv4 entry");
	check(m("127.0.0.1", "::ffff:127.0.0.2") == 0,
	    "other IPv4-mapped client does not");
	check(m("::ffff:10.0.0.0/104", "10.1.2.3") == 1,
	    "IPv4-mapped prefix entry matches plain IPv4");
	check(m("0.0.0.0/0", "203.0.113.9") == 1, "/0 matches everything v4");
	check(m("10.1.2.3/8", "10.200.0.1") == 1,
	    "host bits in an entry are masked");
	check(bad("") && bad(" , "), "empty list refused");
	check(bad("127.0.0.1/33") && bad("::1/129") && bad("1.2.3.4/"),
	    "prefix out of range refused");
	check(bad("example.com") && bad("1.2.3"), "non-address refused");
	check(cidr_list_match_str(NULL, "1.2.3.4") == 1,
	    "no list allows everyone");
	a = cidr_list_parse("127.0.0.1, ::1", &err);
	b = cidr_list_parse("127.0.0.1 ::1", &err);
	check(a != NULL && b != NULL && cidr_list_equal(a, b),
	    "lists with the same entries are equal");
	cidr_list_free(b);
	b = cidr_list_parse("127.0.0.2, ::1", &err);
	check(!cidr_list_equal(a, b), "different lists are not equal");
	cidr_list_free(a);
	cidr_list_free(b);
	return (failed);
}
