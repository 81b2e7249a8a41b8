export default function Compose() {
  return <main>Penumbra</main>;
}
