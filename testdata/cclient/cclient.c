/* cclient: the smallest client of the init daemon's socket, for the
 * latency benchmark (daemon/client_bench_test.go): what a static C client
 * costs, beside the Go one. Usage: cclient SOCKET LINE. It sends LINE and a
 * newline, reads the answer, and exits 0 on success: "ok\n\n" in the
 * compatibility mode (LINE is `run NAME`), or a final reply without an
 * error in the client mode (LINE is a JSON object). */
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

int main(int argc, char **argv) {
	struct sockaddr_un a = {.sun_family = AF_UNIX};
	char buf[4096];
	size_t n = 0;
	ssize_t r;
	int fd;

	if (argc != 3 || strlen(argv[1]) >= sizeof a.sun_path)
		return 2;
	strcpy(a.sun_path, argv[1]);
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof a) < 0)
		return 1;
	if (write(fd, argv[2], strlen(argv[2])) < 0 || write(fd, "\n", 1) != 1)
		return 1;
	/* The answer ends with "\n\n" (compatibility mode) or with a line
	 * that says "done" (client mode). */
	while (n < sizeof buf - 1 && (r = read(fd, buf + n, sizeof buf - 1 - n)) > 0) {
		n += r;
		buf[n] = 0;
		/* An empty body (ls image of none) is the answer's "\n" alone. */
		if (argv[2][0] != '{' && (!strcmp(buf, "\n") || (n >= 2 && !strcmp(buf + n - 2, "\n\n"))))
			return strcmp(buf, "ok\n\n") != 0;
		if (argv[2][0] == '{' && buf[n - 1] == '\n' && strstr(buf, "\"done\":true"))
			return strstr(buf, "\"error\"") != NULL;
	}
	return 1;
}
