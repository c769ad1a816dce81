export {
  PROFILE_SCHEMA,
  type MachineFingerprint,
  type VersionProfile,
  type LayerProfile,
  type BlockProfile,
  type ModelProfileData,
  type Prediction,
} from './profile.js';
export { ProfilePredictor, soloAt, slowdownAt } from './predictor.js';
