import type { Net } from '../net.js';

/** VGG-19 (configuration E of Simonyan & Zisserman 2015): 16 3x3 convs, 3 FC layers. */
const VGG19 = [
  64,
  64,
  'M',
  128,
  128,
  'M',
  256,
  256,
  256,
  256,
  'M',
  512,
  512,
  512,
  512,
  'M',
  512,
  512,
  512,
  512,
  'M',
] as const;

export function vgg19(net: Net, image: string): string {
  let x = image;
  for (const layer of VGG19) {
    x =
      layer === 'M'
        ? net.maxPool(x, 2, { stride: 2 })
        : net.relu(net.conv(x, layer, 3, { pad: 1, bias: true }));
  }
  x = net.flatten(x);
  x = net.relu(net.linear(x, 4096, true));
  x = net.relu(net.linear(x, 4096, true));
  return net.linear(x, 1000);
}
