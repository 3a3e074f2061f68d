/** Shown instead of the lab when the browser cannot give us a WebGPU device. */
export function NoWebGpu({ reason }: { reason: string }) {
  return (
    <div className="nowebgpu" role="alert" data-testid="no-webgpu">
      <h1>Continual Lab needs WebGPU</h1>
      <p>
        <strong>Why:</strong> {reason}
      </p>
      <p>The lab trains models on your own GPU through WebGPU. Browsers that have it:</p>
      <ul>
        <li>
          <strong>Chrome or Edge 113+</strong> on Windows, macOS and ChromeOS: on by default.
        </li>
        <li>
          <strong>Chrome on Linux</strong>: start it with <code>--enable-unsafe-webgpu --enable-features=Vulkan</code>, or
          turn on <code>chrome://flags/#enable-unsafe-webgpu</code>. Without a GPU, add{' '}
          <code>--use-webgpu-adapter=swiftshader</code> to run on the CPU (slow, but everything works).
        </li>
        <li>
          <strong>Chrome 121+ on Android</strong> (Android 12+, recent Qualcomm and ARM GPUs).
        </li>
        <li>
          <strong>Safari 26</strong> on macOS, iOS and iPadOS 26.
        </li>
        <li>
          <strong>Firefox 141+</strong> on Windows; elsewhere set <code>dom.webgpu.enabled</code> in{' '}
          <code>about:config</code>.
        </li>
      </ul>
      <p>
        WebGPU only exists in a secure context: open the lab from <code>http://localhost</code>,{' '}
        <code>http://127.0.0.1</code> or an <code>https://</code> address.
      </p>
      <p className="muted">
        To check your browser, open <code>chrome://gpu</code> (Chrome) and look for "WebGPU: Hardware accelerated".
      </p>
    </div>
  );
}
