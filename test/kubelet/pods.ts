/**
 * The static pods the kubelet suite runs. Each writes what it did to the shared host folder
 * (a hostPath volume), so the tests read the evidence from outside as well as kubelet's status.
 */

type Json = Record<string, unknown>;

function pod(
  name: string,
  spec: Json,
): { metadata: { name: string; namespace: string }; [k: string]: unknown } {
  return { apiVersion: 'v1', kind: 'Pod', metadata: { name, namespace: 'default' }, spec };
}

const hostVolume = (hostDir: string): Json => ({
  name: 'host',
  hostPath: { path: hostDir, type: 'DirectoryOrCreate' },
});
const hostMount = { name: 'host', mountPath: '/host' };

/**
 * An init container, a restartable init container (sidecar), and two containers sharing an
 * emptyDir and a hostPath; env, args, resource requests and limits; exec, httpGet and tcpSocket
 * probes; readiness of `web` waits for a file the sidecar writes after a few seconds.
 */
export function appPod(image: string, hostDir: string): ReturnType<typeof pod> {
  const shared = { name: 'shared', mountPath: '/shared' };
  return pod('app', {
    terminationGracePeriodSeconds: 5,
    volumes: [{ name: 'shared', emptyDir: {} }, hostVolume(hostDir)],
    initContainers: [
      {
        name: 'init',
        image,
        command: ['sh', '-c'],
        args: ['echo "made by init" > /shared/index.html && echo init-ran > /host/app-init'],
        volumeMounts: [shared, hostMount],
      },
      {
        name: 'sidecar',
        image,
        restartPolicy: 'Always',
        command: [
          'sh',
          '-c',
          'sleep 4; touch /shared/ready; while true; do date >> /shared/sidecar.log; sleep 1; done',
        ],
        volumeMounts: [shared],
        startupProbe: { exec: { command: ['true'] }, periodSeconds: 1 },
      },
    ],
    containers: [
      {
        name: 'web',
        image,
        command: ['sh', '-c'],
        args: ['echo "$GREETING from web" | tee /host/app-web; exec httpd -f -p 8080 -h /shared'],
        env: [{ name: 'GREETING', value: 'hello' }],
        ports: [{ containerPort: 8080 }],
        resources: { requests: { cpu: '100m', memory: '32Mi' }, limits: { cpu: '250m', memory: '64Mi' } },
        volumeMounts: [shared, hostMount],
        readinessProbe: { exec: { command: ['test', '-f', '/shared/ready'] }, periodSeconds: 1 },
        livenessProbe: { httpGet: { path: '/index.html', port: 8080 }, periodSeconds: 2 },
      },
      {
        name: 'reader',
        image,
        command: [
          'sh',
          '-c',
          'echo reader up; while true; do cat /shared/index.html > /host/app-reader; sleep 1; done',
        ],
        volumeMounts: [shared, hostMount],
        securityContext: { runAsUser: 1000, runAsGroup: 1000, supplementalGroups: [2000] },
        livenessProbe: { tcpSocket: { port: 8080 }, periodSeconds: 2, initialDelaySeconds: 5 },
      },
    ],
  });
}

/** A liveness probe that passes for a few seconds, then fails: kubelet must restart the container. */
export function livenessPod(image: string): ReturnType<typeof pod> {
  return pod('liveness', {
    terminationGracePeriodSeconds: 2,
    containers: [
      {
        name: 'probed',
        image,
        command: ['sh', '-c', 'touch /tmp/alive; sleep 4; rm /tmp/alive; sleep 600'],
        livenessProbe: {
          exec: { command: ['test', '-f', '/tmp/alive'] },
          periodSeconds: 1,
          failureThreshold: 2,
        },
      },
    ],
  });
}

/** A container that writes its termination message and exits 3, over and over. */
export function crashPod(image: string): ReturnType<typeof pod> {
  return pod('crash', {
    containers: [
      {
        name: 'crasher',
        image,
        command: ['sh', '-c', 'echo "attempt failed" > /dev/termination-log; exit 3'],
      },
    ],
  });
}

/** Writes numbered lines fast, so kubelet rotates the log several times. */
export function chattyPod(image: string): ReturnType<typeof pod> {
  const line = 'x'.repeat(150);
  return pod('chatty', {
    terminationGracePeriodSeconds: 1,
    containers: [
      {
        name: 'writer',
        image,
        command: [
          'sh',
          '-c',
          `i=0; while true; do i=$((i+1)); echo "line $i ${line}"; [ $((i % 20)) -eq 0 ] && sleep 0.1; done`,
        ],
      },
    ],
  });
}

/**
 * Termination: `polite` runs a preStop hook and exits on SIGTERM; `stubborn` ignores SIGTERM,
 * writing a heartbeat file until it is SIGKILLed when the grace period ends.
 */
export function terminationPod(image: string, hostDir: string, graceSeconds: number): ReturnType<typeof pod> {
  return pod('termination', {
    terminationGracePeriodSeconds: graceSeconds,
    volumes: [hostVolume(hostDir)],
    containers: [
      {
        name: 'polite',
        image,
        command: [
          'sh',
          '-c',
          "trap 'echo TERM > /host/term-polite; exit 0' TERM; while true; do sleep 0.2; done",
        ],
        volumeMounts: [hostMount],
        lifecycle: { preStop: { exec: { command: ['sh', '-c', 'echo prestop > /host/prestop'] } } },
      },
      {
        name: 'stubborn',
        image,
        command: [
          'sh',
          '-c',
          "trap 'echo TERM > /host/term-stubborn' TERM; while true; do echo beat > /host/stubborn-beat; sleep 0.2; done",
        ],
        volumeMounts: [hostMount],
      },
    ],
  });
}

/**
 * hostUsers: false (KEP-127): the pod runs in a user namespace of its own, with ids kubelet picks.
 * It records its uid_map, the owner of an image file and writes to the hostPath, then sleeps.
 */
export function usernsPod(image: string, hostDir: string): ReturnType<typeof pod> {
  return pod('userns', {
    hostUsers: false,
    terminationGracePeriodSeconds: 1,
    volumes: [hostVolume(hostDir)],
    containers: [
      {
        name: 'mapped',
        image,
        command: [
          'sh',
          '-c',
          'cat /proc/self/uid_map > /host/userns-map; stat -c %u /bin/busybox > /host/userns-image; echo mapped > /host/userns-file; sleep 3600',
        ],
        volumeMounts: [hostMount],
      },
    ],
  });
}

/**
 * Pod fields of Kubernetes 1.35–1.36 in one pod: an image volume (KEP-4639, the suite's own image
 * mounted read-only, whole and by sub path) and supplementalGroupsPolicy Strict (KEP-3619: the
 * image's /etc/group memberships of uid 1000 left out). It prints what it sees, then sleeps.
 */
export function featuresPod(image: string): ReturnType<typeof pod> {
  return pod('features', {
    terminationGracePeriodSeconds: 1,
    securityContext: { runAsUser: 1000, supplementalGroups: [60000], supplementalGroupsPolicy: 'Strict' },
    volumes: [{ name: 'img', image: { reference: image, pullPolicy: 'IfNotPresent' } }],
    containers: [
      {
        name: 'features',
        image,
        command: [
          'sh',
          '-c',
          'echo "groups $(id -G)"; echo "vol $(head -1 /vol/etc/passwd)"; echo "sub $(ls /sub | tr "\\n" " ")"; sleep 3600',
        ],
        volumeMounts: [
          { name: 'img', mountPath: '/vol', readOnly: true },
          { name: 'img', mountPath: '/sub', subPath: 'etc', readOnly: true },
        ],
      },
    ],
  });
}

/**
 * Container stop signals (KEP-4960, alpha: the ContainerStopSignals gate): `lifecycle.stopSignal`
 * SIGUSR1 (which needs `os.name`); the container records the signal it is stopped with.
 */
export function stopSignalPod(image: string, hostDir: string): ReturnType<typeof pod> {
  return pod('stopsig', {
    os: { name: 'linux' },
    terminationGracePeriodSeconds: 10,
    volumes: [hostVolume(hostDir)],
    containers: [
      {
        name: 'stopsig',
        image,
        command: [
          'sh',
          '-c',
          "trap 'echo USR1 > /host/stopsig; exit 0' USR1; trap 'echo TERM > /host/stopsig; exit 0' TERM; while true; do sleep 0.1; done",
        ],
        volumeMounts: [hostMount],
        lifecycle: { stopSignal: 'SIGUSR1' },
      },
    ],
  });
}
